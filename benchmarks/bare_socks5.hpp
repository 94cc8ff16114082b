// The load tool's bare SOCKS5 relay (see bare_socks5.cpp): a reference floor, not a product.
#pragma once

namespace bare {

// Serves SOCKS5 CONNECT on 127.0.0.1 (an ephemeral port, printed as "port N") until killed.
int socks5_server();

}  // namespace bare
