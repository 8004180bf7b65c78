// Talk to haru: the microphone as 8 kHz 16-bit PCM over a WebSocket, haru's µ-law audio
// played as it arrives. Marks are echoed once the audio before them has played (so haru
// knows what was heard), and "clear" stops playback at once (the caller talked over haru).
// The conversation is shown from the live page's events, as text only.
(function () {
  "use strict";
  var box = document.getElementById("talk");
  if (!box) return;
  var form = document.getElementById("talk-form");
  var callBtn = document.getElementById("call");
  var hangBtn = document.getElementById("hangup");
  var status = document.getElementById("talk-status");
  var transcript = document.getElementById("talk-transcript");
  var ws = null, ctx = null, mic = null, proc = null, events = null;
  var nextTime = 0, sources = [], callSid = null, seen = {};

  function say(s) { status.textContent = s; }

  var ULAW = new Float32Array(256);
  for (var i = 0; i < 256; i++) {
    var u = ~i & 0xff, sign = u & 0x80, exp = (u >> 4) & 7, man = u & 0x0f;
    var mag = ((man << 3) + 0x84) << exp;
    mag -= 0x84;
    ULAW[i] = (sign ? -mag : mag) / 32768;
  }

  function play(bytes) {
    var pcm = new Float32Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) pcm[i] = ULAW[bytes[i]];
    var buf = ctx.createBuffer(1, pcm.length, 8000);
    buf.copyToChannel(pcm, 0);
    var src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    var at = Math.max(nextTime, ctx.currentTime + 0.05);
    src.start(at);
    nextTime = at + buf.duration;
    sources.push(src);
    src.onended = function () { sources = sources.filter(function (s) { return s !== src; }); };
  }

  function clearPlayback() {
    sources.forEach(function (s) { try { s.stop(); } catch (e) { /* already ended */ } });
    sources = [];
    nextTime = ctx.currentTime;
  }

  function echoMark(name) {
    var wait = Math.max(0, nextTime - ctx.currentTime) * 1000;
    setTimeout(function () {
      if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "mark", name: name }));
    }, wait);
  }

  // The context's rate (44.1 or 48 kHz) down to 8 kHz: average each output sample's span.
  var carry = 0;
  function downsample(input, rate) {
    var step = rate / 8000, out = [], pos = carry;
    while (pos + step <= input.length) {
      var a = Math.floor(pos), b = Math.floor(pos + step), sum = 0;
      for (var j = a; j < b; j++) sum += input[j];
      var v = sum / Math.max(1, b - a);
      out.push(Math.max(-32768, Math.min(32767, Math.round(v * 32767))));
      pos += step;
    }
    carry = pos - input.length;
    return Int16Array.from(out);
  }

  function show(m) {
    if (m.call_sid !== callSid || seen[m.id]) return;
    seen[m.id] = true;
    var div = document.createElement("div");
    div.className = "msg " + (m.role === "user" || m.role === "assistant" ? m.role : "system");
    div.dataset.msgId = m.id;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = m.role === "user" ? box.dataset.caller : box.dataset.haru;
    div.appendChild(who);
    div.appendChild(document.createTextNode(m.content));
    transcript.appendChild(div);
  }

  function end(why) {
    if (proc) proc.disconnect();
    if (mic) mic.getTracks().forEach(function (t) { t.stop(); });
    if (events) events.close();
    if (ctx) ctx.close();
    proc = mic = events = ctx = ws = null;
    carry = 0;
    callBtn.disabled = false;
    hangBtn.disabled = true;
    say(why || box.dataset.ended);
  }

  async function start() {
    callBtn.disabled = true;
    say(box.dataset.connecting);
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 }
      });
    } catch (e) {
      say(box.dataset.noMic);
      callBtn.disabled = false;
      return;
    }
    ctx = new AudioContext();
    await ctx.resume();
    nextTime = ctx.currentTime;
    var t;
    try {
      var resp = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)) });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      t = await resp.json();
    } catch (e) {
      end(String(e.message || e));
      return;
    }
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + t.stream + "?ticket=" + encodeURIComponent(t.ticket));
    ws.binaryType = "arraybuffer";
    ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") { play(new Uint8Array(ev.data)); return; }
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "start") {
        callSid = m.call_sid;
        box.dataset.callSid = callSid;
        say(box.dataset.inCall);
        hangBtn.disabled = false;
        events = new EventSource("/app/live/events");
        events.addEventListener("message", function (e) {
          try { show(JSON.parse(e.data)); } catch (err) { /* skip */ }
        });
      } else if (m.type === "mark") echoMark(m.name);
      else if (m.type === "clear") clearPlayback();
      else if (m.type === "hangup") setTimeout(function () { if (ws) ws.close(); }, Math.max(0, nextTime - ctx.currentTime) * 1000);
    };
    ws.onclose = function () { end(); };
    var srcNode = ctx.createMediaStreamSource(mic);
    proc = ctx.createScriptProcessor(2048, 1, 1);
    proc.onaudioprocess = function (ev) {
      if (!ws || ws.readyState !== 1) return;
      var pcm = downsample(ev.inputBuffer.getChannelData(0), ctx.sampleRate);
      if (pcm.length) ws.send(pcm.buffer);
    };
    srcNode.connect(proc);
    // A muted sink keeps the processor running without echoing the microphone.
    var mute = ctx.createGain();
    mute.gain.value = 0;
    proc.connect(mute);
    mute.connect(ctx.destination);
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); start(); });
  hangBtn.addEventListener("click", function () {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "stop" }));
  });
})();
