// Live progress for the campaign page: an EventSource on the element's data-live URL whose
// "progress" events replace the panel. The browser reconnects a stream that ended by
// itself; this script also reopens one that went silent (no event, not even the 1 s ping,
// for 3 s: a node that vanished with the virtual address leaves a half-open connection)
// and one that the browser gave up on. "signin" means the session is over; "backup" that
// this node is no longer the master (the next try, through the virtual address, reaches
// the new one). No inline script, no eval: the console's Content-Security-Policy allows
// neither.
(function () {
  "use strict";
  var panel = document.querySelector("[data-live]");
  if (!panel) { return; }
  var badge = document.getElementById("live-state");
  var url = panel.getAttribute("data-live");
  var source = null;
  var lastEvent = Date.now();
  var lastId = "";

  function state(s) {
    if (badge) { badge.setAttribute("data-state", s); }
    document.body.setAttribute("data-live", s);
  }

  function open() {
    if (source) { source.close(); }
    lastEvent = Date.now();
    source = new EventSource(url + (lastId ? "?after=" + encodeURIComponent(lastId) : ""));
    state("connecting");
    source.addEventListener("open", function () { state("open"); });
    source.addEventListener("hello", function () { lastEvent = Date.now(); state("open"); });
    source.addEventListener("ping", function () { lastEvent = Date.now(); state("open"); });
    source.addEventListener("progress", function (e) {
      lastEvent = Date.now();
      lastId = e.lastEventId || lastId;
      panel.innerHTML = e.data;
      state("open");
      var live = panel.firstElementChild;
      document.body.setAttribute("data-updates",
        String(Number(document.body.getAttribute("data-updates") || "0") + 1));
      if (live) {
        document.body.setAttribute("data-progress", live.getAttribute("data-finished") || "");
        // After a takeover the panel comes from the other node: say so in the header.
        var node = document.getElementById("node-name");
        if (node && live.getAttribute("data-node")) { node.textContent = live.getAttribute("data-node"); }
      }
    });
    source.addEventListener("signin", function () {
      source.close();
      window.location.assign("/login");
    });
    source.addEventListener("backup", function () {
      source.close();
      state("reconnecting");
      window.setTimeout(open, 500);
    });
    source.addEventListener("error", function () {
      state("reconnecting");
      if (source.readyState === EventSource.CLOSED) { window.setTimeout(open, 1000); }
    });
  }

  window.setInterval(function () {
    if (Date.now() - lastEvent > 3000) { open(); }
  }, 1000);
  open();
}());
