#pragma once
// GOST's command-line grammar (go-gost/x config/cmd): -L services and -F chain nodes as a Config.
//
//   -L [handler[+listener]://][user:pass@][host]:port[-port2][/target1,target2...][?k=v&...]
//   -F [connector[+dialer]://][user:pass@]host:port[,host2:port2...][?k=v&...]
//
// Exactly GOST's rules: a single scheme word is both handler and listener (connector and dialer);
// a name the registry does not have falls back to handler `auto` / listener `tcp` (`udp` for
// ssu) and to connector `http` / dialer `tcp`; `https` is `http+tls`; no scheme is `auto`.
// Forward targets in the path become forwarder nodes target-0.. and the handler becomes the
// listener's name for tcp/udp/rtcp/rudp/tun/tap/dns/unix/runix/serial, else `forward` (relay
// stays relay). Port ranges give one service per port. All -F form chain-0 with one hop per -F
// (hop-0, hop-1, ...), comma-separated hosts being nodes node-0, node-1, ...; the chain is
// attached to every -L handler (to the listener for rtcp/rudp/runix). Query keys go to handler,
// listener and service metadata (-L) or hop, node, connector and dialer metadata (-F); the
// prefixes service./listener./handler./hop./node./dialer./connector. pin a key to one level;
// bypass, admission, resolver, hosts, limiter.*, climiter, rlimiter create top-level objects
// (bypass-N, admission-N, ...); retries, strategy, maxFails, failTimeout, auth, cert/key/ca,
// secure, serverName, interface, so_mark, proxyProtocol, netns are mapped as GOST maps them.
//
// Where GOST silently accepts a malformed URL (a non-numeric port becomes port 0, a bad query
// escape drops the pair), this build reports an error instead.

#include <string>
#include <vector>

#include "gost/config/config.hpp"
#include "gost/core/registry.hpp"

namespace gost::config {

Result<Config, ConfigError> build_config_from_cmd(const std::vector<std::string>& services,
                                                  const std::vector<std::string>& nodes,
                                                  const Registry& registry);

}  // namespace gost::config
