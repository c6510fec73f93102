package gitsource

import (
	"testing"
	"time"
)

// TestVerifyPayloadTime: the verification time comes from the committer
// line of a commit and the tagger line of a tag, never from the message.
func TestVerifyPayloadTime(t *testing.T) {
	cases := []struct {
		payload string
		want    time.Time
	}{
		{"tree 4b825dc6\nauthor A <a@x> 100 +0000\ncommitter C <c@x> 1559347200 +0200\n\nmsg\n", time.Unix(1559347200, 0)},
		{"object 4b825dc6\ntype commit\ntag v1\ntagger T <t@x> 1700000000 -0500\n\nmsg\n", time.Unix(1700000000, 0)},
		{"tree 4b825dc6\n\ncommitter C <c@x> 1559347200 +0000\n", time.Time{}},
		{"tree 4b825dc6\ncommitter C <c@x> soon +0000\n\n", time.Time{}},
	}
	for _, tc := range cases {
		if got := payloadTime([]byte(tc.payload)); !got.Equal(tc.want) {
			t.Errorf("payloadTime(%q) = %v, want %v", tc.payload, got, tc.want)
		}
	}
}
