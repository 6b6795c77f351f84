// Back office: live inbox and conversation updates by polling small JSON endpoints; local times.
(function () {
  "use strict";

  function fmt(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d)) return iso;
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return p(d.getDate()) + "-" + p(d.getMonth() + 1) + "-" + d.getFullYear() + " " + p(d.getHours()) + "." + p(d.getMinutes());
  }

  function localTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (t) { t.textContent = fmt(t.getAttribute("datetime")); });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      if (r.status === 401) { window.location.reload(); throw new Error("login"); }
      return r.json();
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function every(seconds, fn) {
    fn();
    setInterval(fn, Math.max(1, seconds) * 1000);
  }

  function inboxBadge() {
    var badge = document.getElementById("inbox-badge");
    if (!badge) return;
    every(15, function () {
      getJSON(badge.dataset.poll).then(function (data) {
        var waiting = data.conversations.filter(function (c) { return c.mode === "waiting_staff"; }).length;
        badge.textContent = waiting ? String(waiting) : "";
        document.title = (waiting ? "(" + waiting + ") " : "") + document.title.replace(/^\(\d+\) /, "");
      }).catch(function () {});
    });
  }

  function inboxTable() {
    var table = document.getElementById("inbox");
    if (!table) return;
    var labels = JSON.parse(document.getElementById("mode-labels").innerHTML);
    var body = table.querySelector("tbody");
    every(parseFloat(table.dataset.interval || "5"), function () {
      getJSON(table.dataset.poll).then(function (data) {
        body.textContent = "";
        if (!data.conversations.length) {
          var tr = el("tr", "empty"), td = el("td", "muted", "Tidak ada percakapan yang menunggu petugas.");
          td.colSpan = 6; tr.appendChild(td); body.appendChild(tr); return;
        }
        data.conversations.forEach(function (c) {
          var tr = el("tr", c.mode === "waiting_staff" ? "waiting" : "");
          tr.dataset.id = c.id;
          var name = el("td"), a = el("a", "", c.name);
          a.href = "/backoffice/conversations/" + c.id; name.appendChild(a);
          tr.appendChild(name);
          tr.appendChild(el("td", "", c.channel));
          tr.appendChild(el("td", "", labels[c.mode] || c.mode));
          tr.appendChild(el("td", "", fmt(c.since)));
          tr.appendChild(el("td", "", c.staff || "-"));
          tr.appendChild(el("td", "", c.last_text));
          body.appendChild(tr);
        });
      }).catch(function () {});
    });
  }

  var SENDERS = { user: "Jemaah", bot: "Bot", staff: "Petugas", broadcast: "Siaran" };

  function addMessage(box, m) {
    if (box.querySelector('[data-id="' + m.id + '"]')) return;
    var div = el("div", "msg " + m.direction + " " + m.sender);
    div.dataset.id = m.id;
    div.appendChild(el("span", "meta", (m.staff || SENDERS[m.sender] || m.sender) + " · " + fmt(m.at)));
    div.appendChild(document.createTextNode(m.text));
    (m.attachments || []).forEach(function (a) {
      var span = el("span", "att");
      if (a.url) {
        var link = el("a", "", "📎 " + (a.filename || a.content_type));
        link.href = a.url; link.target = "_blank"; link.rel = "noopener";
        span.appendChild(link);
      } else { span.textContent = "📎 " + (a.filename || a.content_type); }
      div.appendChild(span);
    });
    box.appendChild(div);
    box.dataset.after = Math.max(parseInt(box.dataset.after || "0", 10), m.id);
    box.scrollTop = box.scrollHeight;
  }

  function conversation() {
    var box = document.getElementById("transcript");
    if (!box) return;
    box.scrollTop = box.scrollHeight;
    var poll = function () {
      getJSON(box.dataset.poll + "?after=" + (box.dataset.after || "0")).then(function (data) {
        data.messages.forEach(function (m) { addMessage(box, m); });
      }).catch(function () {});
    };
    setInterval(poll, Math.max(1, parseFloat(box.dataset.interval || "5")) * 1000);
    var form = document.getElementById("replyform");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new URLSearchParams(new FormData(form));
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                           headers: { "X-Requested-With": "fetch", "Accept": "application/json" } })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          if (!res.ok) { alert(res.body.error || "Gagal mengirim"); return; }
          form.querySelector("textarea").value = "";
          var mode = document.getElementById("conv-mode");
          if (mode && mode.dataset.mode !== "staff") { window.location.reload(); return; }
          poll();
        }).catch(function () { form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    inboxBadge();
    inboxTable();
    conversation();
  });
})();
