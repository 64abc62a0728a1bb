// Optional: filter as you type. Without JavaScript the form and the column links do the same
// on the server.
(function () {
  var form = document.getElementById("filter");
  var rank = { ok: 0, warning: 1, critical: 2, expired: 3 };
  var rows = document.querySelectorAll("#certificates tbody tr[data-severity]");
  var crls = document.querySelectorAll("#crl-table tbody tr[data-state]");
  function apply() {
    var q = form.q.value.trim().toLowerCase();
    var min = rank[form.severity.value] || 0;
    var src = form.source.value;
    var leaf = form.leaf.checked;
    var want = Array.prototype.map.call(form.querySelectorAll("select[name=label]"), function (s) { return s.value; })
      .filter(function (v) { return v; });
    function owned(tr) {
      return want.every(function (l) { return tr.dataset.labels.split("\n").indexOf(l) >= 0; });
    }
    function found(tr) { return !q || tr.textContent.toLowerCase().indexOf(q) >= 0; }
    rows.forEach(function (tr) {
      var show = rank[tr.dataset.severity] >= min &&
        (!src || tr.dataset.source === src) &&
        (!leaf || !tr.classList.contains("secondary")) &&
        owned(tr) && found(tr);
      tr.hidden = !show;
    });
    // As the server's filter of the CRLs: they are files, and above ok only those not ok show.
    crls.forEach(function (tr) {
      tr.hidden = !((min === 0 || tr.dataset.state !== "ok") && (!src || src === "file") && owned(tr) && found(tr));
    });
    history.replaceState(null, "", "?" + new URLSearchParams(new FormData(form)).toString());
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
})();
