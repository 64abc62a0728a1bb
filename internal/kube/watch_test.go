package kube

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// streamed is a resource whose watch is a stream the test writes, to stop the watch at a
// moment of the test's choosing.
type streamed struct{ stream *watch.FakeWatcher }

func (r streamed) String() string           { return "streamed Secrets" }
func (r streamed) name() string             { return "secrets" }
func (r streamed) expected() runtime.Object { return &corev1.Secret{} }
func (r streamed) keep(ev watch.Event) runtime.Object {
	return ev.Object
}

func (r streamed) list(context.Context, string, metav1.ListOptions) (runtime.Object, error) {
	return &corev1.SecretList{}, nil
}

func (r streamed) watch(context.Context, string, metav1.ListOptions) (watch.Interface, error) {
	return r.stream, nil
}

// The reflector stops reading a watch before it stops it (a restart, a reload, the source's
// end). An event the watch took from the stream meanwhile must not keep its goroutine, and
// with it the watcher and every object it keeps, alive: synctest fails the test if a
// goroutine of the bubble is still blocked when it ends.
func TestWatchStopsWithAnEventUnread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stream := watch.NewFakeWithChanSize(1, false)
		w := &watcher{namespace: "n", res: streamed{stream}, now: time.Now, log: slog.New(slog.DiscardHandler),
			changed: func() {}, items: map[string]runtime.Object{}, errors: source.NewErrors(ErrorReasons...)}
		wi, err := w.WatchWithContext(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stream.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s"}})
		synctest.Wait() // the watch holds the event, which nobody reads
		wi.Stop()
		synctest.Wait()
		if _, ok := <-wi.ResultChan(); ok {
			t.Error("an event after Stop")
		}
	})
}
