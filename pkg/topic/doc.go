// Package topic owns MQTT v5 topic names, topic filters and the ACLs built
// from them. It is shared by the control plane, which validates the ACLs it
// writes into tokens, and by the broker nodes, which run Match and the ACL
// checks on every PUBLISH, SUBSCRIBE and delivery.
//
// Vocabulary follows the MQTT v5 specification (§4.7): a topic name is what a
// PUBLISH carries and never contains wildcards; a topic filter is what a
// SUBSCRIBE carries and may contain '+' (one whole level) and '#' (the whole
// last level, matching the parent level too). Names and filters whose first
// level starts with '$' are reserved for the server and are not matched by a
// filter whose first level is a wildcard.
//
// The hot-path functions (Match, Covers, ACL.AllowsTopic, ACL.AllowsFilter)
// never allocate. They assume their inputs passed ValidateName or
// ValidateFilter; on other input they return an unspecified answer but never
// panic.
package topic
