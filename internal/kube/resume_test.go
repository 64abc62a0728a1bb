package kube

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestWatchResumes cuts the source's connections to a real API server 100 times (through a
// loopback proxy: the network fails, the API server runs on), each time writing a renewal
// that must arrive: the watch resumes from the resourceVersion it had, without listing the
// Secrets again, and leaves no goroutine behind. Then, while the source cannot connect, a
// renewal is written and etcd compacted past the source's resourceVersion: the resumed watch
// ends with 410 Gone, and the source lists again and shows the renewal. The Secrets' watch
// cache is off so that the watch reads etcd and sees the compaction (with the cache, the API
// server answers 410 once its window has passed the resourceVersion instead).
func TestWatchResumes(t *testing.T) {
	c := testkube.StartWith(t, testkube.Options{APIServerArgs: []string{"--watch-cache-sizes=secrets#0"}})
	admin := c.Clientset(t)
	pki := testcerts.NewPKI("Kube", now)
	c.EnsureNamespace(t, "resume")
	proxy, through := c.Proxy(t)
	latest := run(t, through, defaultPageSize, "namespaces: {include: [resume]}", nil)
	up := status("resume 1 " + nowSeconds)
	renew := func(serial int64) string {
		t.Helper()
		s := tlsSecret(corev1.SecretTypeTLS, "resume", "web", serial, jan, pki)
		if _, err := admin.CoreV1().Secrets("resume").Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return up + notAfter(chainSeries(pki, "resume", "web", strconv.FormatInt(serial, 16), "1.7987616e+09"))
	}
	create(t, admin, tlsSecret(corev1.SecretTypeTLS, "resume", "web", 2000, jan, pki))
	awaitExposition(t, latest, up+notAfter(chainSeries(pki, "resume", "web", "7d0", "1.7987616e+09")))

	// Counted from the first cut on: the first watch may have started after the list that
	// found the Secret, so that the first cut ends it within a second and without an event,
	// which client-go takes for a broken server and lists again (a "very short watch"). Every
	// later watch has received its renewal when it is cut.
	var lists, goroutines int
	const cuts = 100
	for i := 1; i <= cuts; i++ {
		accepts := proxy.Accepts()
		proxy.Cut()
		want := renew(2000 + int64(i))
		awaitExposition(t, latest, want)
		if proxy.Accepts() == accepts {
			t.Fatalf("cut %d: the renewal arrived without a new connection", i)
		}
		if i == 1 {
			lists, goroutines = secretLists(t, admin), runtime.NumGoroutine()
		}
	}
	if got := secretLists(t, admin); got != lists {
		t.Errorf("%d LISTs of Secrets during cuts 2 to %d, want 0: a broken watch must resume, not relist", got-lists, cuts)
	}
	// Once the connections of the cuts have wound down, as many goroutines as after the first.
	testwait.Until(t, func() error {
		if n := runtime.NumGoroutine(); n > goroutines {
			return fmt.Errorf("%d goroutines after %d cuts, %d after the first", n, cuts, goroutines)
		}
		return nil
	})

	proxy.Refuse(true)
	proxy.Cut()
	want := renew(3000)
	// Another write, so that the compaction removes the renewal's own revision too: the watch
	// resumed from the revision before it finds its start compacted (410), not a renewal whose
	// previous version is gone (a 500 that client-go retries).
	if _, err := admin.CoreV1().ConfigMaps("resume").Create(t.Context(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "resume", Name: "later-write"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Compact(t)
	proxy.Refuse(false)
	awaitExposition(t, latest, want)
	testwait.Until(t, func() error {
		if got := secretLists(t, admin); got == lists {
			return errNotYet("no LIST of Secrets after the compaction")
		}
		return nil
	})
}

// secretLists is the API server's count of LIST requests for Secrets
// (apiserver_request_total), whoever sent them: here only the source lists Secrets.
func secretLists(t *testing.T, cs kubernetes.Interface) int {
	t.Helper()
	body, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="secrets"`) || !strings.Contains(line, `verb="LIST"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		n += int(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
