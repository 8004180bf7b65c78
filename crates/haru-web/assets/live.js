// The live page: new words of calls in progress, from server-sent events. Text is set
// with textContent only, so nothing said can become markup.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource) return;
  var labels = { user: root.dataset.caller, assistant: root.dataset.haru };
  var seen = {};
  root.querySelectorAll("[data-msg-id]").forEach(function (el) { seen[el.dataset.msgId] = true; });

  function section(sid) {
    var s = document.getElementById("call-" + sid);
    if (s) return s;
    var empty = document.getElementById("live-empty");
    if (empty) empty.remove();
    s = document.createElement("section");
    s.className = "card live-call";
    s.id = "call-" + sid;
    s.dataset.callSid = sid;
    var h = document.createElement("h2");
    var a = document.createElement("a");
    a.href = "/app/calls/" + encodeURIComponent(sid);
    a.textContent = sid;
    h.appendChild(a);
    var c = document.createElement("div");
    c.className = "conversation";
    s.appendChild(h);
    s.appendChild(c);
    root.appendChild(s);
    return s;
  }

  var es = new EventSource("/app/live/events");
  es.addEventListener("message", function (ev) {
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (seen[m.id]) return;
    seen[m.id] = true;
    var conv = section(m.call_sid).querySelector(".conversation");
    var div = document.createElement("div");
    div.className = "msg " + (m.role === "user" || m.role === "assistant" ? m.role : "system");
    div.dataset.msgId = m.id;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = labels[m.role] || m.role;
    div.appendChild(who);
    div.appendChild(document.createTextNode(m.content));
    conv.appendChild(div);
  });
  es.addEventListener("ended", function (ev) {
    var s = document.getElementById("call-" + ev.data);
    if (s) s.classList.add("ended");
  });
})();
