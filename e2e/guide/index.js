// The guide's index.js (step 6), with the endpoint changed to the dev
// stack's broker and the missing "}" of its template literal fixed. The
// test replaces the port with the one the dev node bound for 8443.
//
// The endpoint carries a user name ("anything@"): MQTT.js refuses to send a
// password without a user name (every version, through mqtt-packet), so the
// guide's code as printed never connects anywhere. The broker ignores the
// user name; Cloudflare's later examples pass username: 'anything' too.
const mqtt = require('mqtt')
const brokerEndpoint = "mqtts://anything@example-broker.my-namespace.pubsub.localhost"
const options = {
port: 8443,
password: process.env.BROKER_TOKEN,
protocolVersion: 5, // MQTT 5
}
const client = mqtt.connect(brokerEndpoint, options)
client.subscribe("example-topic")
client.publish("example-topic", `message from ${client.options.clientId}: hello at ${Date.now()}`)
client.on("message", function (topic, message) {
console.log(`received message on ${topic}: ${message}`)
})
