// Preloaded with node --require: resolves every name under .localhost to
// 127.0.0.1, as RFC 6761 asks of resolvers, so that broker hostnames such
// as example-broker.my-namespace.pubsub.localhost reach the dev stack
// without editing /etc/hosts. Only the address lookup changes: the TLS
// server name (SNI) and certificate check still use the broker hostname.
const dns = require("node:dns");
const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  if (typeof hostname === "string" && (hostname === "localhost" || hostname.endsWith(".localhost"))) {
    if (options && options.all) return process.nextTick(callback, null, [{ address: "127.0.0.1", family: 4 }]);
    return process.nextTick(callback, null, "127.0.0.1", 4);
  }
  return lookup.call(this, hostname, options, callback);
};
