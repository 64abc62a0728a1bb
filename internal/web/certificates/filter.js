// Optional: filter as you type. Without JavaScript the form and the column links do the same
// on the server.
(function () {
  var form = document.getElementById("filter");
  var rank = { ok: 0, warning: 1, critical: 2, expired: 3 };
  var rows = document.querySelectorAll("#certificates tbody tr[data-severity]");
  function apply() {
    var q = form.q.value.trim().toLowerCase();
    var min = rank[form.severity.value] || 0;
    var src = form.source.value;
    var leaf = form.leaf.checked;
    var want = Array.prototype.map.call(form.querySelectorAll("select[name=label]"), function (s) { return s.value; })
      .filter(function (v) { return v; });
    rows.forEach(function (tr) {
      var show = rank[tr.dataset.severity] >= min &&
        (!src || tr.dataset.source === src) &&
        (!leaf || !tr.classList.contains("secondary")) &&
        want.every(function (l) { return tr.dataset.labels.split("\n").indexOf(l) >= 0; }) &&
        (!q || tr.textContent.toLowerCase().indexOf(q) >= 0);
      tr.hidden = !show;
    });
    history.replaceState(null, "", "?" + new URLSearchParams(new FormData(form)).toString());
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
})();
