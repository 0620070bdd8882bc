module strata.dev/guest-init

go 1.22
