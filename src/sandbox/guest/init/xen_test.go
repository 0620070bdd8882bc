package main

import (
	"encoding/hex"
	"testing"
)

func TestXenstoreMessage(t *testing.T) {
	got := hex.EncodeToString(xenstoreMessage(xsRead, 7, "a\x00"))
	want := "02000000" + "07000000" + "00000000" + "02000000" + "6100"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestParseXenstoreReply(t *testing.T) {
	reply := xenstoreMessage(xsRead, 1, "strata.log")
	if v, err := parseXenstoreReply(xsRead, reply); err != nil || v != "strata.log" {
		t.Fatalf("got %q, %v", v, err)
	}
	if _, err := parseXenstoreReply(xsRead, xenstoreMessage(xsError, 1, "ENOENT\x00")); err == nil || err.Error() != "xenstore: ENOENT" {
		t.Fatalf("want the ENOENT error, got %v", err)
	}
	if _, err := parseXenstoreReply(xsRead, reply[:10]); err == nil {
		t.Fatal("a short reply must fail")
	}
}
