#pragma once
// The sni handler and connector (GOST's "sni").
//
// Handler: reads the first bytes of a connection; a TLS ClientHello is routed to its SNI name
// (port 443), anything else is read as an HTTP request head and routed to its Host (port 80),
// through the service's chain, and the bytes read are passed on unchanged. A name hidden by
// GOST's sni connector (ClientHello extension 0xFFFE / Gost-Target header) wins over the SNI /
// Host. Metadata: readTimeout (sniffing limit, default 15s), hash=host.
//
// Connector: passes the stream through, rewriting the first ClientHello's SNI (or the HTTP
// Host) to metadata `host` and carrying the real name as GOST does (domain fronting). Without
// `host` it is a plain pass-through.

#include "gost/core/registry.hpp"

namespace gost::sni {

Result<HandlerPtr, ConfigError> make_sni_handler(const HandlerArgs& args);
Result<ConnectorPtr, ConfigError> make_sni_connector(const ConnectorArgs& args);

void register_module(Registry& r);

}  // namespace gost::sni
