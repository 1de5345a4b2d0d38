// Verifies Pub/Sub tokens with jose, a JWT library independent of ours.
// Usage: node verify-jose.mjs <jwks.json> <audience> < tokens (one per line)
// Prints one JSON line of claims per token, or exits 1 naming the failure.
import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from "jose";

const [jwksPath, audience] = process.argv.slice(2);
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksPath, "utf8")));
const tokens = readFileSync(0, "utf8").split("\n").filter(Boolean);
for (const tok of tokens) {
  try {
    const header = decodeProtectedHeader(tok);
    const { payload } = await jwtVerify(tok, jwks, { algorithms: ["EdDSA"], audience });
    console.log(JSON.stringify({ header, payload }));
  } catch (err) {
    console.error(`jose rejected a token: ${err.code || ""} ${err.message}`);
    process.exit(1);
  }
}
