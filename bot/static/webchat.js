// Web chat page. The server keeps the conversation (session cookie, HttpOnly): on load the page shows the
// latest messages of both sides, then polls for new ones. Each message carries a random message_id, so a
// retried request is answered once. Choice buttons are numbered (typing the number works too) and are
// disabled once the pilgrim has answered.
(function () {
  "use strict";
  const texts = JSON.parse(document.getElementById("texts").textContent);
  const log = document.getElementById("log");
  const shown = new Set();  // message ids on the page
  let lastId = 0;
  let sending = Promise.resolve();
  let inFlight = 0;  // while a message is being sent, polling waits (its own bubble has no id yet)

  function newMessageId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function attachmentLine(a) {
    // a file the bot sent (e.g. a letter to print) is a download link, valid for this chat session only
    const line = document.createElement(a.url ? "a" : "span");
    line.className = "att";
    if (a.url) { line.href = a.url; line.setAttribute("download", a.filename || ""); }
    line.appendChild(document.getElementById("doc-icon").content.cloneNode(true));
    line.appendChild(document.createTextNode(a.filename || a.content_type || texts.file));
    return line;
  }

  function bubble(m) {
    const div = document.createElement("div");
    div.className = "msg " + (m.from === "staff" ? "bot staff" : m.from);
    if (m.id) div.dataset.id = m.id;
    if (m.from === "staff") {
      const who = document.createElement("span");
      who.className = "who"; who.textContent = texts.staff; div.appendChild(who);
    }
    if (m.text) div.appendChild(document.createTextNode(m.text));
    (m.attachments || []).forEach(function (a) { div.appendChild(attachmentLine(a)); });
    return div;
  }

  function choiceRow(m) {
    const row = document.createElement("div");
    row.className = "choices"; row.setAttribute("role", "group");
    m.choices.forEach(function (label, i) {
      const b = document.createElement("button");
      b.type = "button"; b.dataset.choice = label;
      const num = document.createElement("span");
      num.className = "num"; num.textContent = (i + 1) + ". ";
      b.appendChild(num); b.appendChild(document.createTextNode(label));
      b.onclick = function () {
        b.classList.add("chosen");
        disableChoices(row);
        queue(label, null);
      };
      row.appendChild(b);
    });
    if (m.answered) disableChoices(row);
    return row;
  }

  function disableChoices(row) {
    row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
  }

  // every choice row above the pilgrim's latest message has been answered
  function spendAnsweredChoices() {
    const mine = log.querySelectorAll(".msg.me");
    if (!mine.length) return;
    const latest = mine[mine.length - 1];
    log.querySelectorAll(".choices").forEach(function (row) {
      if (!(row.compareDocumentPosition(latest) & Node.DOCUMENT_POSITION_FOLLOWING)) return;
      disableChoices(row);
      let answer = row.nextElementSibling;  // the pilgrim's answer: mark the chosen button (after a reload too)
      while (answer && !answer.classList.contains("me")) answer = answer.nextElementSibling;
      const said = answer ? answer.textContent.trim() : "";
      row.querySelectorAll("button").forEach(function (b, i) {
        if (said === b.dataset.choice || said === String(i + 1)) b.classList.add("chosen");
      });
    });
  }

  function show(messages) {
    messages.forEach(function (m) {
      if (shown.has(m.id)) return;
      shown.add(m.id);
      lastId = Math.max(lastId, m.id);
      log.appendChild(bubble(m));
      if (m.choices && m.choices.length) log.appendChild(choiceRow(m));
    });
    spendAnsweredChoices();
    scrollDown();
  }

  function note(text) {
    log.appendChild(bubble({ from: "bot note", text: text }));
    scrollDown();
  }

  async function post(body) {
    // retried with the same message_id when the connection breaks or the server is briefly unavailable
    let lastError = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const r = await fetch("/webchat/messages", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        if (r.status >= 500) { lastError = null; await wait(attempt); continue; }
        let payload = {};
        try { payload = await r.json(); } catch (e) { /* not JSON */ }
        return { ok: r.ok, payload: payload };
      } catch (e) { lastError = e; await wait(attempt); }
    }
    return { ok: false, payload: {}, offline: lastError !== null };
  }

  function wait(attempt) { return new Promise(function (ok) { setTimeout(ok, 800 * (attempt + 1)); }); }

  async function send(text, attachment) {
    const mine = bubble({ from: "me", text: text, attachments: attachment ? [attachment] : [] });
    mine.classList.add("pending");
    log.appendChild(mine);
    spendAnsweredChoices();
    scrollDown();
    const body = { text: text, message_id: newMessageId(), attachments: attachment ? [attachment] : [] };
    const result = await post(body);
    mine.classList.remove("pending");
    if (result.ok) {
      const id = result.payload.inbound_id;
      if (id) { mine.dataset.id = id; shown.add(id); lastId = Math.max(lastId, id); }
      show(result.payload.messages || []);
    } else {
      mine.classList.add("failed");
      note(result.offline ? texts.offline : (result.payload.error || texts.failed));
    }
  }

  // one message at a time, in the order the pilgrim sent them
  function queue(text, attachment) {
    inFlight++;
    sending = sending.then(function () { return send(text, attachment); })
      .finally(function () { inFlight--; });
    return sending;
  }

  function readFile(file) {
    return new Promise(function (resolve, reject) {
      const fr = new FileReader();
      fr.onload = function () {
        resolve({ filename: file.name, content_type: file.type, data_base64: String(fr.result).split(",")[1] || "" });
      };
      fr.onerror = reject;
      fr.readAsDataURL(file);
    });
  }

  document.getElementById("form").addEventListener("submit", function (e) {
    e.preventDefault();
    const input = document.getElementById("text");
    const text = input.value.trim();
    input.value = "";
    if (text) queue(text, null);
  });

  document.getElementById("file").addEventListener("change", async function (e) {
    const files = Array.from(e.target.files);
    e.target.value = "";
    for (const file of files) queue("", await readFile(file));  // one file per request (size limit)
  });

  async function poll() {
    if (inFlight) return;
    try {
      const r = await fetch("/webchat/messages?after=" + lastId, { credentials: "same-origin" });
      if (r.ok) show((await r.json()).messages);
    } catch (e) { /* offline; try again */ }
  }

  poll();
  setInterval(poll, 3000);
})();
