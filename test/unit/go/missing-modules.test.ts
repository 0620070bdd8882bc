import assert from "node:assert/strict";
import { test } from "node:test";
import { missingModules, requiredModules } from "../../../src/build/go/missing-modules.js";

const GO_MOD = `module example.com/app

go 1.19

require example.com/single v1.0.0

require (
	github.com/a/b v1.2.3 // indirect
	github.com/a/b/v2 v2.0.1
)
`;

test("reads go.mod's required modules, single and in blocks", () => {
  assert.deepEqual(requiredModules(GO_MOD), ["example.com/single", "github.com/a/b", "github.com/a/b/v2"]);
});

test("names the modules behind go build's offline failures", () => {
  // As go 1.19 prints them with GOPROXY=off (the first two were seen on this host).
  assert.deepEqual(missingModules("go: downloading example.com/single v1.0.0\nmain.go:7:2: module lookup disabled by GOPROXY=off\n", GO_MOD), ["example.com/single@v1.0.0"]);
  assert.deepEqual(
    missingModules("main.go:7:2: missing go.sum entry for module providing package github.com/a/b/v2/pkg (imported by example.com/app); to add:\n", GO_MOD),
    ["github.com/a/b/v2"],
    "a package is attributed to the longest required module path",
  );
  assert.deepEqual(
    missingModules("main.go:3:8: no required module provides package rsc.io/quote; to add it:\n\tgo get rsc.io/quote\n", GO_MOD),
    ["rsc.io/quote"],
  );
  assert.deepEqual(missingModules("main.go:1:1: syntax error\n", GO_MOD), []);
});
