package controlplane

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/pkg/clients"
)

func codecSample() []clients.Client {
	in, out := int64(12), int64(1<<40)
	return []clients.Client{
		{BrokerID: "br", ClientID: "dev-1", JTI: "01JTI", Transport: clients.TransportMQTTS, Remote: "10.0.0.1:5000",
			ConnectedAt: time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC), Subscriptions: []string{"a/#", "b/+/c"}, Subscribed: 30, Inflight: 2,
			MessagesIn: &in, MessagesOut: &out},
		{BrokerID: "br", ClientID: "reader", Transport: clients.TransportSSE, Remote: "[::1]:1", ConnectedAt: time.Unix(0, 0).UTC(),
			Subscriptions: []string{}},
		{BrokerID: "br", ClientID: "ü/\x00", ConnectedAt: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), Subscriptions: []string{""}},
	}
}

// TestClientsCodec: what encodeClients wrote decodes to the same
// clients, and every cut or changed record is an error, never a panic.
func TestClientsCodec(t *testing.T) {
	want := codecSample()
	raw := encodeClients(want)
	got, err := decodeClients(raw, "br")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	if got, err := decodeClients(encodeClients(nil), "br"); err != nil || len(got) != 0 {
		t.Fatalf("empty list: %v, %v", got, err)
	}
	for i := range raw {
		if _, err := decodeClients(raw[:i], "br"); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", i, len(raw))
		}
	}
	if _, err := decodeClients(append(raw, 0), "br"); err == nil {
		t.Fatal("a record with a trailing byte decoded")
	}
	bad := append([]byte{}, raw...)
	bad[0] = 9
	if _, err := decodeClients(bad, "br"); err == nil {
		t.Fatal("another version decoded")
	}
	// A count far larger than the record is refused before allocating.
	if _, err := decodeClients([]byte{clientsCodecVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}, "br"); err == nil {
		t.Fatal("a huge count decoded")
	}
}

func FuzzDecodeClients(f *testing.F) {
	f.Add(encodeClients(codecSample()))
	f.Add([]byte{clientsCodecVersion, 1, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		list, err := decodeClients(raw, "br")
		if err != nil {
			return
		}
		// What decodes encodes back to the same clients.
		again, err := decodeClients(encodeClients(list), "br")
		if err != nil || !reflect.DeepEqual(again, list) {
			t.Fatalf("re-encoded: %v, %+v vs %+v", err, again, list)
		}
	})
}

// BenchmarkDecodeClients decodes one node's 10,000 clients of a broker,
// as a page of the console's Clients does for each node.
func BenchmarkDecodeClients(b *testing.B) {
	list := make([]clients.Client, 10000)
	in, out := int64(5), int64(9)
	for i := range list {
		list[i] = clients.Client{BrokerID: "br", ClientID: "device-" + strconv.Itoa(i), JTI: "01JQ8Z3Y7V2K4W6X8B0C2D4E6F", Transport: clients.TransportMQTTS,
			Remote: "10.0.1.2:51234", ConnectedAt: time.Now(), Subscriptions: []string{"devices/" + strconv.Itoa(i) + "/cmd", "fleet/#"}, Subscribed: 2,
			MessagesIn: &in, MessagesOut: &out}
	}
	raw := encodeClients(list)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := decodeClients(raw, "br"); err != nil {
			b.Fatal(err)
		}
	}
}
