package kube

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"

	"github.com/jonboulle/clockwork"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/pager"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// streamed is a resource whose watch is a stream the test writes, to stop the watch at a
// moment of the test's choosing, and whose LIST answers two pages of one Secret each, the
// second with an expired continue token.
type streamed struct {
	stream *watch.FakeWatcher
	lists  *[]metav1.ListOptions // the LISTs asked for
}

func (r streamed) String() string           { return "streamed Secrets" }
func (r streamed) name() string             { return "secrets" }
func (r streamed) expected() runtime.Object { return &corev1.Secret{} }
func (r streamed) keep(ev watch.Event) runtime.Object {
	return ev.Object
}

func (r streamed) list(_ context.Context, _ string, opts metav1.ListOptions) (runtime.Object, error) {
	*r.lists = append(*r.lists, opts)
	switch {
	case opts.Continue != "":
		// etcd compacted the revision the first page was read at (a list that took longer
		// than the API server's compaction interval).
		return nil, apierrors.NewResourceExpired("The provided continue parameter is too old")
	case opts.Limit > 0:
		return &corev1.SecretList{ListMeta: metav1.ListMeta{Continue: "page2"}, Items: make([]corev1.Secret, 1)}, nil
	}
	return &corev1.SecretList{Items: make([]corev1.Secret, 2)}, nil
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
		w := &watcher{namespace: "n", res: streamed{stream: stream}, clock: clockwork.NewRealClock(), log: slog.New(slog.DiscardHandler),
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

// A list is asked for page by page, even where the reflector's pager falls back to one
// unpaged LIST (a continue token that expired): that response would hold every Secret with
// its data at once. The watcher answers it with the expiry, and the reflector lists again from
// the first page.
func TestListNeverUnpaged(t *testing.T) {
	var lists []metav1.ListOptions
	w := &watcher{namespace: "n", res: streamed{lists: &lists}, pageSize: 1, clock: clockwork.NewRealClock(), log: slog.New(slog.DiscardHandler),
		changed: func() {}, items: map[string]runtime.Object{}, errors: source.NewErrors(ErrorReasons...)}
	// What the reflector's list does (client-go tools/cache.Reflector.list).
	p := pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (runtime.Object, error) {
		return w.ListWithContext(t.Context(), opts)
	}))
	p.PageSize = w.pageSize
	if _, _, err := p.ListWithAlloc(t.Context(), metav1.ListOptions{}); !apierrors.IsResourceExpired(err) {
		t.Errorf("list: %v, want the continue token's expiry", err)
	}
	for i, o := range lists {
		if o.Limit != w.pageSize {
			t.Errorf("LIST %d (continue %q) with limit %d, want %d", i+1, o.Continue, o.Limit, w.pageSize)
		}
	}
	// Not a failure of the watch: the reflector handles it.
	if st := w.state(); st.reason != "" {
		t.Errorf("watch failing with %s: %s", st.reason, st.msg)
	}
}
