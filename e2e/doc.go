// Package e2e is the end-to-end suite: the exporter binary, real Prometheus evaluating the
// shipped alert rules, real Alertmanager, nginx, certbot and Pebble, all on loopback, one
// test per way a certificate really lapses. The tests carry the build tag e2e:
//
//	go test -tags e2e -count=1 ./e2e/...
//
// e2e/install.sh installs the tools; outside CI a missing tool skips a test, with CI=true
// it fails it.
package e2e
