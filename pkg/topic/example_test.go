package topic_test

import (
	"fmt"

	"github.com/openpubsub/pubsub/pkg/topic"
)

func ExampleACL() {
	acl, err := topic.NewACL([]string{"devices/d1/#", "broadcast/+"})
	if err != nil {
		panic(err)
	}
	fmt.Println(acl.AllowsTopic("devices/d1/telemetry"))
	fmt.Println(acl.AllowsFilter("devices/d1/+/temp"))
	fmt.Println(acl.AllowsFilter("devices/#")) // could deliver d2's messages
	// Output:
	// true
	// true
	// false
}

func ExampleValidateFilter() {
	fmt.Println(topic.ValidateFilter("a/#/b"))
	// Output: topic filter "a/#/b": '#' must be the last level
}
