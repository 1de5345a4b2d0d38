// An on-publish hook written as a Cloudflare Worker: it uses only Web
// APIs (Request, Response, crypto.subtle), so it deploys to Workers
// unchanged, and serve.mjs runs it under Node for `pubsub dev`.
//
// env.PUBSUB_JWKS is the broker's JWK Set, copied from
//   pubsub broker public-keys <broker>
// (GET .../brokers/<broker>/publickeys). Every request is verified
// against it: a request that does not verify gets 401, which the broker
// treats as a failure (on_failure, drop by default).
//
// What it does to the messages, for the example: a payload that starts
// with "up:" is upper-cased, one that contains "drop" is dropped (left
// out of the answer), anything else is delivered unchanged.

const TOLERANCE_SECONDS = 300;

async function importKeys(jwks) {
  const keys = new Map();
  for (const k of JSON.parse(jwks).keys) {
    // Import the raw Ed25519 key: kty, crv and x are all it needs.
    const key = await crypto.subtle.importKey(
      "jwk", { kty: "OKP", crv: "Ed25519", x: k.x }, { name: "Ed25519" }, false, ["verify"]);
    keys.set(k.kid, key);
  }
  return keys;
}

function fromBase64(s) {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

// verify checks X-Signature-Ed25519 over X-Signature-Timestamp followed
// by the body, with the key X-Signature-Key-Id names.
async function verify(request, body, keys) {
  const sig = request.headers.get("X-Signature-Ed25519");
  const ts = request.headers.get("X-Signature-Timestamp");
  const kid = request.headers.get("X-Signature-Key-Id");
  const key = keys.get(kid);
  if (!sig || !ts || !key) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_SECONDS) return false;
  const signed = new Uint8Array([...new TextEncoder().encode(ts), ...body]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, fromBase64(sig), signed);
}

let keysPromise;

export default {
  async fetch(request, env) {
    keysPromise ??= importKeys(env.PUBSUB_JWKS);
    const body = new Uint8Array(await request.arrayBuffer());
    if (!(await verify(request, body, await keysPromise))) {
      return new Response("bad signature", { status: 401 });
    }
    const out = [];
    for (const msg of JSON.parse(new TextDecoder().decode(body))) {
      // payloadFormatIndicator 1: the payload is a string; else base64.
      const text = msg.payloadFormatIndicator === 1
        ? msg.payload
        : new TextDecoder().decode(fromBase64(msg.payload));
      if (text.includes("drop")) continue;
      if (text.startsWith("up:")) {
        const upper = text.toUpperCase();
        msg.payload = msg.payloadFormatIndicator === 1 ? upper : toBase64(new TextEncoder().encode(upper));
      }
      out.push(msg);
    }
    return new Response(JSON.stringify(out));
  },
};
