#pragma once
// Building blocks for remote binds (Connector::bind, Router::bind): the listeners a connector
// hands back when a proxy listens on its behalf.

#include <memory>

#include "gost/core/address.hpp"
#include "gost/core/stream.hpp"
#include "gost/core/transport.hpp"

namespace gost {

// A listener over a datagram relay (a PacketConn) that yields one datagram stream
// (is_datagram()) per peer, as GOST's UDP listeners do: the first datagram from a new peer makes
// a stream that accept() returns; the peer's later datagrams are read from it; writes go back
// to the peer. A stream ends (eof) after opts.udp_ttl without traffic either way; at most
// opts.backlog new peers wait for accept() and opts.udp_queue datagrams per peer (more are
// dropped); datagrams are read into a buffer of opts.udp_buffer bytes. `addr` is what
// address() reports (the address bound on the proxy). The listener owns pc and is already
// listening; everything runs on pc's executor. close() is thread-safe.
ListenerPtr make_packet_listener(PacketConnPtr pc, Address addr, BindOptions opts);

// s, reporting the given addresses (e.g. the bound address and the peer that connected to it
// on the proxy) instead of its own. Everything else is forwarded.
StreamPtr with_addresses(StreamPtr s, Address local, Address remote);

}  // namespace gost
