// Clinic Inbox: what htmx does not do by itself (shortcuts, alerts, the socket's state, the
// idle warning, where a live row or bubble goes). No inline handlers anywhere.
(function () {
  "use strict";
  var htmx = window.htmx;
  // This script's own requests must not keep the session alive (idle logoff).
  var BACKGROUND = { "X-Background": "1" };
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function on(type, handler) { document.addEventListener(type, handler); }
  var TYPING = "textarea, select, input:not([type=checkbox], [type=radio], [type=button], [type=submit])";
  function typing(el) { return el && (el.isContentEditable || el.matches(TYPING)); }
  function background(event) {  // one of this script's own requests (BACKGROUND)
    var headers = (event.detail.requestConfig || {}).headers || {};
    return !!headers["X-Background"];
  }
  function openConversationId() { var open = $(".conversation"); return open && open.dataset.conversation; }
  function changed(box) { box.dispatchEvent(new Event("input", { bubbles: true })); }
  // A confirmation goes by itself after a while (on a page or in a boosted form's answer).
  htmx.onLoad(function (root) {
    $all(".flash[data-dismiss-after]", root).forEach(function (flash) {
      setTimeout(function () { flash.remove(); }, Number(flash.getAttribute("data-dismiss-after")));
    });
  });
  // A click that failed says so, in the words of base.html's #request-failed-flash (a line
  // for each case): a 4xx other than a refusal the page shows (422) or a sign-in redirect
  // (401) means the page is out of date; a 5xx or a network error, try again.
  function say(why) {
    var flash = $("#request-failed-flash").content.firstElementChild.cloneNode(true);
    $all("[data-say]", flash).forEach(function (el) {
      if (el.getAttribute("data-say").split(" ").indexOf(why) < 0) el.remove();
    });
    if ($("#request-failed")) $("#request-failed").remove();
    $(".flash-stack").appendChild(flash);
  }
  on("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (!background(event) && status !== 401 && status !== 422) say(status >= 500 ? "failed" : "stale");
  });
  on("htmx:sendError", function (event) { if (!background(event)) say("unreachable"); });
  // Copy buttons say they did. Without the clipboard API: selected and copied the old way,
  // else left selected for Ctrl+C.
  function copy(button) {
    var label = $("span", button) || button, target = $("strong, code", button.parentNode);
    function done() {
      label.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { label.textContent = "Copy"; }, 2000);
    }
    function fallback() {
      if (!target) return;
      window.getSelection().selectAllChildren(target);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* stays selected */ }
    }
    if (!navigator.clipboard || !window.isSecureContext) return fallback();
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(done, fallback);
  }
  // Clicks: dismiss, reload, copy, dialogs (native <dialog>), a saved reply into the message
  // box, the alert and sound toggles.
  on("click", function (event) {
    var t = event.target, el, box = $("#composer-body");
    if ((el = t.closest("[data-close-flash]"))) el.closest(".flash").remove();
    if (t.closest("[data-reload]")) window.location.reload();
    if ((el = t.closest("[data-copy]"))) copy(el);
    if ((el = t.closest("[data-open-dialog]"))) {
      var dialog = document.getElementById(el.getAttribute("data-open-dialog"));
      if (dialog && !dialog.open) dialog.showModal();
      if (!el.hasAttribute("hx-get")) event.preventDefault();
    } else if ((el = t.closest("[data-close-dialog]")) && el.closest("dialog")) el.closest("dialog").close();
    if ((el = t.closest("[data-template-text]")) && box) {
      var text = el.getAttribute("data-template-text");
      box.value = box.value.trim() ? box.value.replace(/\s*$/, " ") + text : text;
      if (el.closest("details")) el.closest("details").open = false;
      box.focus();
      changed(box);
    }
    if ((el = t.closest("#alerts-toggle"))) toggleAlerts(el.getAttribute("aria-pressed") !== "true");
    if (t.closest("#sound-toggle") && setPref("ci-sound", !prefs("ci-sound"))) beep();  // turned on
  });
  // A refused send's message belongs to the text it refused: once the box is emptied, it goes.
  function composer(event) { return event.target.matches && event.target.matches("textarea[data-composer]"); }
  on("input", function (event) {
    if (composer(event) && !event.target.value.trim() && $("#composer-error")) $("#composer-error").remove();
  });
  on("change", function (event) {  // Select all the loaded conversations.
    var all = event.target;
    if (all.id === "select-all") $all(".conv-check").forEach(function (c) { c.checked = all.checked; });
  });
  // A live STOP swaps in a locked composer and START the open one again: the reply being
  // typed in this conversation comes back.
  var heldDraft = null;
  on("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target, box = $("#composer-body", target);
    if (target.id !== "composer" || !box || box.disabled || !box.value.trim()) return;
    heldDraft = { conversation: openConversationId(), text: box.value };
  });
  on("htmx:oobAfterSwap", function (event) {
    var target = event.target, box = $("#composer-body", target);
    if (target.id !== "composer" || !heldDraft) return;
    if (heldDraft.conversation !== openConversationId()) heldDraft = null;
    else if (box && !box.disabled) {
      if (!box.value.trim()) box.value = heldDraft.text;
      heldDraft = null;
      changed(box);
    }
  });
  // A status never goes back on screen: an answer rendered a moment ago (a send's) may come
  // after the live update. A bubble whose server-given data-rank would drop stays as it was.
  // Earlier messages load above what the user reads: keep their place, do not jump down.
  var shown = {}, olderFrom = null;
  on("htmx:beforeSwap", function (event) {
    var list = $("#messages");
    shown = {};
    $all("#messages .status[data-rank]").forEach(function (s) { shown[s.id] = s; });
    olderFrom = event.detail.target.id === "load-older" && list ? list.scrollHeight - list.scrollTop : null;
  });
  on("htmx:afterSettle", function () {
    $all("#messages .status[data-rank]").forEach(function (s) {
      var was = shown[s.id], msg = was && was.closest(".msg");
      if (!was || was === s || Number(s.dataset.rank) >= Number(was.dataset.rank)) return;
      s.closest(".msg").replaceWith(msg);
      htmx.process(msg);
    });
    shown = {};
  });
  // Opening a conversation: its row is the one selected (stacked layouts show it: app.css, :has).
  on("htmx:afterSwap", function (event) {
    var list = $("#messages"), open = "conv-" + openConversationId();
    if (olderFrom !== null) {
      if (list) list.scrollTop = list.scrollHeight - olderFrom;
      return (olderFrom = null);
    }
    if (event.detail.target.id === "conversation-pane") {
      $all(".conv-row").forEach(function (row) { row.classList.toggle("selected", row.id === open); });
    }
    if (/^(messages|conversation-pane)$/.test(event.detail.target.id)) scrollConversation();
    syncTitle();
  });
  function scrollConversation() {
    var list = $("#messages"), hit = list && $("mark", list);
    if (hit) hit.scrollIntoView({ block: "center" });
    else if (list) list.scrollTop = list.scrollHeight;
  }
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function syncTitle() {  // "(3) Inbox": the unread count in the browser tab's title
    var badge = $("#inbox-badge"), n = badge ? parseInt(badge.getAttribute("data-count") || "0", 10) : 0;
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle;
  }
  // Keyboard: j/k move, Enter opens, r replies, u toggles unread, / searches, ? helps. In the
  // composer Enter sends, Shift+Enter makes a new line.
  function moveFocus(step) {
    var rows = $all(".conv-row"), at = -1;
    rows.forEach(function (row, i) {
      if (row.classList.contains("kbd-focus") || (at < 0 && row.classList.contains("selected"))) at = i;
    });
    at = Math.min(Math.max(at + step, 0), rows.length - 1);
    rows.forEach(function (row, i) { row.classList.toggle("kbd-focus", i === at); });
    if (rows.length) rows[at].scrollIntoView({ block: "nearest" });
  }
  on("keydown", function (event) {
    var active = document.activeElement, key = event.key, el;
    if (composer(event) && key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      return event.target.value.trim() && event.target.form.requestSubmit();
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === "Escape" && typing(active)) return active.blur();
    if (typing(active) || $("dialog[open]")) return;
    if (key === "j" || key === "k") moveFocus(key === "j" ? 1 : -1);
    else if (key === "Enter" && (el = $(".conv-row.kbd-focus .conv-link"))) el.click();
    else if (key === "r" && (el = $("#composer-body")) && !el.disabled) el.focus();
    else if (key === "u" && (el = $("#toggle-unread"))) {
      htmx.process(el.form);  // through htmx even if the conversation was swapped in a moment ago
      htmx.trigger(el.form, "submit");
    } else if (key === "/" && (el = $("#search-q"))) el.focus();
    else if (key === "?" && (el = $("#shortcuts-dialog"))) el.showModal();
    else return;
    event.preventDefault();
  });
  // A phone's menu is one row that scrolls sideways: the clinic (else view) picked in sight.
  function showPicked() {
    var picked = $("#menu .menu-item.active[data-clinic]") || $("#menu .menu-item.active[data-view]");
    var menu = $("#menu"), sideways = menu && menu.scrollWidth > menu.clientWidth;
    if (picked && sideways) picked.scrollIntoView({ block: "nearest", inline: "center" });
  }
  on("DOMContentLoaded", function () { scrollConversation(); syncTitle(); showPicked(); paintToggles(); });
  window.addEventListener("load", showPicked);  // again once styles and icon fonts have sized it
  // Live: the ws extension swaps the socket's fragments in; this tells the server what the
  // tab shows and resyncs after a reconnect, which comes within seconds (htmx's own backoff
  // grows to a minute), jittered so a clinic's tabs do not all knock at once.
  var socket = null, opens = 0;
  htmx.config.wsReconnectDelay = function (attempt) {
    var ceiling = Math.min(5000, 500 * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * ceiling / 2;
  };
  function sendState() {
    if (socket) socket.send(JSON.stringify({
      path: location.pathname, search: location.search, visible: document.visibilityState === "visible",
      // The server resyncs a page rendered before its socket listened; a reconnect, itself.
      generation: opens === 1 ? document.body.dataset.liveGeneration || "" : ""
    }));
  }
  function resync() {
    var list = { target: "#list-body", swap: "innerHTML", headers: BACKGROUND };
    var conversation = { target: "#messages", select: "#messages", swap: "outerHTML", headers: BACKGROUND };
    if ($("#list-body")) htmx.ajax("GET", "/inbox" + location.search, list);
    if ($("#messages")) htmx.ajax("GET", location.pathname + location.search, conversation);
  }
  on("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    opens += 1;
    if ($("#live-status")) $("#live-status").hidden = true;
    sendState();
    if (opens > 1) resync();  // anything that happened while we were away
  });
  on("htmx:wsClose", function (event) {
    var code = event.detail.event && event.detail.event.code;
    // Not coming back: Inbox access gone (1008), session ended (4401). Else "Reconnecting…".
    if (code === 1008 || code === 4401) say(code === 1008 ? "access-lost" : "signed-out");
    else if ($("#live-status")) $("#live-status").hidden = false;
  });
  on("htmx:pushedIntoHistory", function () { showPicked(); sendState(); });  // a view or clinic picked
  on("htmx:historyRestore", sendState);
  on("visibilitychange", sendState);
  on("htmx:wsAfterMessage", function () {
    var list = $("#messages");
    var nearBottom = list && list.scrollHeight - list.scrollTop - list.clientHeight < 200;
    if (nearBottom) list.scrollTop = list.scrollHeight;
    syncTitle();
  });
  // hx-swap-oob="<style>:<target>" (inbox/_live.html, _row_change.html), placed by what the
  // tab shows. row: a new text's to the top, a changed one in its place, one back on this
  // list in order of time unless below the rows loaded; it keeps its tick. An empty one
  // leaves, unless this tab reads it or is opening it (its request on the way). bubble:
  // replaced, or appended (under its day's heading unless that is the last one shown).
  htmx.defineExtension("live", {
    handleSwap: function (style, target, wrap) {
      if (!/^(row|bubble|notice|resync)$/.test(style)) return false;  // htmx's own (innerHTML too)
      var el = wrap.lastElementChild, old = el && document.getElementById(el.id), next = old;
      var action = wrap.getAttribute("data-row") || wrap.getAttribute("data-bubble");
      if (style === "notice") notice(wrap);
      else if (style === "resync") resync();
      else if (style === "bubble") {
        var sep = $(".day-sep", wrap), seps = $all(".day-sep", target), last = seps[seps.length - 1];
        if (!old && action !== "append") return [];
        if (old) old.replaceWith(el);
        else if (last && last.textContent.trim() === sep.textContent.trim()) target.append(el);
        else target.append(sep, el);
        return [el];
      } else if (action === "remove") {
        var id = wrap.getAttribute("data-id"), gone = document.getElementById(id);
        if (gone && id !== "conv-" + openConversationId() && !$(".htmx-request", gone)) gone.remove();
      } else {
        var at = Number(el.getAttribute("data-at"));
        if (action === "top") next = target.firstElementChild;
        else if (!old) next = $all(".conv-row", target).filter(function (r) { return r.dataset.at < at; })[0];
        if (!next && !old && action !== "top" && $(".conv-more", target)) return [];
        if (old && $(".conv-check", old).checked) $(".conv-check", el).checked = true;
        target.insertBefore(el, next || null);
        if (old) old.remove();
        if ($(".conv-empty", target)) $(".conv-empty", target).remove();
        return [el];
      }
      return [];
    }
  });
  function prefs(key) { try { return localStorage.getItem(key) === "1"; } catch (e) { return false; } }
  function setPref(key, value) {  // kept, painted, and what was kept given back
    try { localStorage.setItem(key, value ? "1" : "0"); } catch (e) { /* private mode */ }
    paintToggles();
    return prefs(key);
  }
  function beep() {  // a short tone, unless the browser allows this page no sound yet
    new Audio(document.body.dataset.newTextSound).play().catch(function () { /* none */ });
  }
  function notice(el) {  // a patient's text: read where it lands if its conversation is on screen
    var visible = document.visibilityState === "visible", id = el.getAttribute("data-conversation");
    var seen = { swap: "none", source: document.body, headers: BACKGROUND };
    var url = "/inbox/c/" + id + "/seen" + location.search;
    if (visible && el.dataset.open === "1") htmx.ajax("POST", url, seen);
    if (visible) return;
    if (prefs("ci-alerts") && window.Notification && Notification.permission === "granted") {
      new Notification("New text from " + el.getAttribute("data-first-name"),
        { body: "Open the Inbox to read and reply.", tag: "clinic-inbox-" + id });
    }
    if (prefs("ci-sound")) beep();
  }
  // Alerts show as on only while the browser lets them through; refused, the page says so.
  function paintToggles() {
    var alerts = prefs("ci-alerts") && !!window.Notification && Notification.permission === "granted";
    [["alerts-toggle", alerts], ["sound-toggle", prefs("ci-sound")]].forEach(function (pair) {
      var btn = document.getElementById(pair[0]);
      if (btn) btn.setAttribute("aria-pressed", String(pair[1]));
      if (btn) btn.classList.toggle("active", pair[1]);
    });
  }
  function toggleAlerts(turnOn) {
    var blocked = $("#alerts-blocked");
    function set(lit) {
      setPref("ci-alerts", lit);
      if (blocked) blocked.hidden = lit || !turnOn;
    }
    if (blocked) blocked.hidden = true;
    if (turnOn && !window.Notification) set(false);
    else if (turnOn && Notification.permission !== "granted") {
      Notification.requestPermission().then(function (answer) { set(answer === "granted"); });
    } else set(turnOn);
  }
  // Idle logoff: a countdown before the server signs the user out, with "Stay signed in".
  // The server's clock decides (other tabs count): /session/status is asked before warning
  // and at zero. Elements are looked up each time: a boosted form's answer swaps the body.
  var meta = $('meta[name="idle-logoff"]'), timer = null, tick = null, deadline = 0;
  var idle = meta && (parseFloat(meta.getAttribute("content")) || 900);
  var warning = meta && (parseFloat(meta.getAttribute("data-warning")) || 60);
  function paint() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if ($("#idle-seconds")) $("#idle-seconds").textContent = String(left);
    if (left <= 0) { tick = clearInterval(tick); check(); }
  }
  function schedule(remaining) {
    var warn = remaining <= warning;
    clearTimeout(timer);
    deadline = Date.now() + remaining * 1000;
    if ($("#idle-warning")) $("#idle-warning").hidden = !warn;
    if (!warn) {
      tick = clearInterval(tick);
      timer = setTimeout(check, (remaining - warning) * 1000);
      return;
    }
    tick = tick || setInterval(paint, 1000);
    paint();
  }
  function check() {  // the server's clock, asked without renewing it
    var asking = { credentials: "same-origin", headers: { "X-Background": "1", Accept: "application/json" } };
    fetch("/session/status", asking).then(function (response) {
      var back = encodeURIComponent(location.pathname + location.search);
      if (response.status === 401) return location.assign("/login?next=" + back);
      if (!response.ok) throw new Error("status " + response.status);
      return response.json();
    }).then(function (data) { if (data) schedule(data.remaining); })
      .catch(function () { clearTimeout(timer); timer = setTimeout(check, 15000); });
  }
  // A user's own request renewed the server's clock ("Stay signed in" is one, an hx-post),
  // which says how far (X-Idle-Remaining: never past the session's hard maximum).
  on("htmx:afterRequest", function (event) {
    var left = Number(event.detail.xhr.getResponseHeader("X-Idle-Remaining"));
    if (meta && !background(event) && event.detail.successful) schedule(left || idle);
  });
  if (meta) schedule(idle);
})();
