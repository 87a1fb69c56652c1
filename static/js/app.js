// Clinic Inbox: what htmx does not do by itself (shortcuts, alerts, the socket's state, the
// idle warning, where a live row or bubble goes). No inline handlers anywhere.
(function () {
  "use strict";
  var htmx = window.htmx;
  // Requests this script makes by itself (not the user): they must not keep the session
  // alive, or an open tab would never be signed out for inactivity.
  var BACKGROUND = { "X-Background": "1" };
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function on(type, handler) { document.addEventListener(type, handler); }
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(el.type)) || el.isContentEditable);
  }
  function background(event) {
    var cfg = event.detail.requestConfig;
    return !!(cfg && cfg.headers && cfg.headers["X-Background"]);
  }
  function openThreadId() { var t = $(".thread[data-conversation]"); return t && t.getAttribute("data-conversation"); }
  function changed(box) { box.dispatchEvent(new Event("input", { bubbles: true })); }

  // Flash messages: a confirmation goes by itself after a while (on a page or in a boosted
  // form's answer); any can be dismissed, so none keeps covering what the page shows.
  htmx.onLoad(function (root) {
    $all(".flash[data-dismiss-after]", root).forEach(function (flash) {
      setTimeout(function () { flash.remove(); }, Number(flash.getAttribute("data-dismiss-after")));
    });
  });
  // A click that failed says so (the page's #request-failed-flash). A 4xx other than a
  // refusal the page shows itself (422) or a sign-in redirect (401) means the page is out of
  // date: the Inbox was turned off, access changed, the conversation is gone. A network
  // error or a 5xx: try again.
  function say(message, withReload) {
    var old = $("#request-failed"), flash = $("#request-failed-flash").content.firstElementChild.cloneNode(true);
    var stack = $(".flash-stack") || document.body.appendChild(document.createElement("div"));
    if (old) old.remove();
    $("span", flash).textContent = message;
    if (!withReload) $("[data-reload]", flash).remove();
    stack.className = "flash-stack";
    stack.appendChild(flash);
  }
  on("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (background(event) || status === 401 || status === 422) return;
    if (status >= 500) say("That did not go through: the server had a problem. Please try again.", false);
    else say("This page is out of date (the Inbox may have been turned off or your access changed). " +
      "Reload it to see what you can do now.", true);
  });
  on("htmx:sendError", function (event) {
    if (!background(event)) say("Clinic Inbox could not be reached. Check the connection and try again.", false);
  });

  // Copy (the Inbox number, an invitation link, a secret): the button says it did. Where the
  // clipboard API is refused, the text is selected and copied the old way, else left
  // selected for Ctrl+C.
  function copy(button) {
    var label = $("span", button) || button, target = $("strong, code", button.parentNode), range = document.createRange();
    var done = function () {
      label.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { label.textContent = "Copy"; }, 2000);
    };
    var fallback = function () {
      if (!target) return;
      range.selectNodeContents(target);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* stays selected */ }
    };
    if (!navigator.clipboard || !window.isSecureContext) return fallback();
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(done, fallback);
  }
  // Clicks: dismiss, reload, copy, dialogs (native <dialog>, no Bootstrap JS), a saved reply
  // (its filled-in text into the message box), the alert toggles, Stay signed in.
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
    if ((el = t.closest("#alerts-toggle"))) toggleAlerts(el.getAttribute("aria-pressed") !== "true");  // as painted
    if (t.closest("#sound-toggle")) {
      setPref("ci-sound", !prefs("ci-sound"));
      paintToggles();
      if (prefs("ci-sound")) beep();
    }
    if (t.closest("#idle-stay")) stay();
  });
  // Finish Setup acts once. A plain form: a refusal answers 502 with the page and its
  // reason, which htmx would not swap in.
  on("submit", function (event) {
    var button = event.submitter;
    if (button && button.hasAttribute("data-once")) {
      setTimeout(function () { button.disabled = true; button.textContent = "Working…"; });
    }
  });

  // Composer: Enter sends, Shift+Enter makes a new line. A refused send's message belongs
  // to the text it refused: once the box is emptied for a new one, it goes.
  function composer(event) { return event.target.matches && event.target.matches("textarea[data-composer]"); }
  on("keydown", function (event) {
    if (!composer(event) || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (event.target.value.trim()) event.target.form.requestSubmit();
  });
  on("input", function (event) {
    if (composer(event) && !event.target.value.trim() && $("#composer-error")) $("#composer-error").remove();
  });
  on("change", function (event) {  // Select all the loaded conversations.
    if (event.target.id === "select-all") $all(".conv-check").forEach(function (c) { c.checked = event.target.checked; });
  });

  // Out-of-band swaps that keep something: a live STOP swaps in a locked composer and START
  // the open one again, with the reply being typed in this thread; the menu comes again
  // with new counts, scrolled where it was.
  var heldDraft = null, menuScroll = null;
  on("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target, box = $("#composer-body", target);
    if (target.id === "menu") menuScroll = target.scrollLeft;
    if (target.id === "composer" && box && !box.disabled && box.value.trim()) {
      heldDraft = { thread: openThreadId(), text: box.value };
    }
  });
  on("htmx:oobAfterSwap", function (event) {
    var target = event.target, box = $("#composer-body", target);
    if (target.id === "menu" && menuScroll !== null) { target.scrollLeft = menuScroll; menuScroll = null; }
    if (target.id !== "composer" || !heldDraft) return;
    if (heldDraft.thread !== openThreadId()) heldDraft = null;
    else if (box && !box.disabled) {
      if (!box.value.trim()) box.value = heldDraft.text;
      heldDraft = null;
      changed(box);
    }
  });

  // A text's status never goes back on screen. The answer to a send re-renders the thread
  // as it was a moment ago; the live update may have shown it sent or delivered by then.
  // The server ranks each status (data-rank; none for failed or unconfirmed texts: a retry
  // starts again from queued): a bubble whose rank would drop stays as it was.
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
      if (!was || was === s || Number(s.getAttribute("data-rank")) >= Number(was.getAttribute("data-rank"))) return;
      s.closest(".msg").replaceWith(msg);
      htmx.process(msg);
    });
    shown = {};
  });
  // Opening a thread: the stacked (tablet/phone) layout shows the thread screen, and its row
  // is the one selected (the pane of a conversation already read comes alone).
  on("htmx:afterSwap", function (event) {
    var list = $("#messages"), grid = $("#inbox-grid"), open = "conv-" + openThreadId();
    if (olderFrom !== null) {
      if (list) list.scrollTop = list.scrollHeight - olderFrom;
      olderFrom = null;
      return;
    }
    if (grid && event.detail.target.id === "thread-pane") {
      grid.classList.add("has-thread");
      $all(".conv-row").forEach(function (row) { row.classList.toggle("selected", row.id === open); });
    }
    scrollThread();
    syncTitle();
  });
  function scrollThread() {
    var list = $("#messages"), hit = list && $("mark", list);
    if (hit) hit.scrollIntoView({ block: "center" });
    else if (list) list.scrollTop = list.scrollHeight;
  }
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function syncTitle() {  // "(3) Inbox": the unread count in the browser tab's title
    var badge = $("#inbox-badge"), n = badge ? parseInt(badge.getAttribute("data-count") || "0", 10) : 0;
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle;
  }

  // Keyboard: j/k move, Enter opens, r replies, u toggles unread, / searches, ? helps.
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
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === "Escape" && typing(active)) return active.blur();
    if (typing(active) || $("dialog[open]")) return;
    if (key === "j" || key === "k") moveFocus(key === "j" ? 1 : -1);
    else if (key === "Enter" && (el = $(".conv-row.kbd-focus .conv-link"))) el.click();
    else if (key === "r" && (el = $("#composer-body")) && !el.disabled) el.focus();
    else if (key === "u" && (el = $("#toggle-unread"))) {
      htmx.process(el.form);  // through htmx even if the thread was swapped in a moment ago
      htmx.trigger(el.form, "submit");
    } else if (key === "/" && (el = $("#search-q"))) el.focus();
    else if (key === "?" && (el = $("#shortcuts-dialog"))) el.showModal();
    else return;
    event.preventDefault();
  });

  // On a phone the menu is one row that scrolls sideways: the clinic picked (else the view)
  // is scrolled into sight, so the filter on the list is never off-screen.
  function showPicked() {
    var menu = $("#menu"), picked = $("#menu .menu-item.active[data-clinic]") || $("#menu .menu-item.active[data-view]");
    if (!menu || !picked || menu.scrollWidth <= menu.clientWidth) return;
    var box = menu.getBoundingClientRect(), item = picked.getBoundingClientRect();
    menu.scrollLeft += (item.left - box.left) - (box.width - item.width) / 2;
  }
  on("DOMContentLoaded", function () { scrollThread(); syncTitle(); showPicked(); paintToggles(); });
  window.addEventListener("load", showPicked);  // again once styles and icon fonts have sized it
  on("htmx:pushedIntoHistory", showPicked);  // a view or clinic picked

  // Live: the websocket (htmx ws extension) swaps fragments in out of band. This keeps the
  // server told what the tab shows, resynchronises after a reconnect, and places what needs
  // this page's state (the "live" extension below).
  var socket = null, opens = 0, opening = null;
  // Reconnect within seconds of a restart or a dropped network (htmx's own backoff grows to
  // a minute). Jittered, so a clinic's tabs do not all knock at once.
  htmx.config.wsReconnectDelay = function (attempt) {
    var ceiling = Math.min(5000, 500 * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * ceiling / 2;
  };
  function sendState() {
    if (socket) socket.send(JSON.stringify({
      path: location.pathname, search: location.search, visible: document.visibilityState === "visible",
      // What the page was rendered under: the server resyncs it if that changed before the
      // socket listened. A reconnected socket resyncs by itself.
      generation: opens === 1 ? document.body.dataset.liveGeneration || "" : ""
    }));
  }
  function resync() {
    var list = { target: "#list-body", swap: "innerHTML", headers: BACKGROUND };
    if ($("#list-body")) htmx.ajax("GET", "/inbox" + location.search, list);
    var thread = { target: "#messages", select: "#messages", swap: "outerHTML", headers: BACKGROUND };
    if ($("#messages")) htmx.ajax("GET", location.pathname + location.search, thread);
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
    // Not coming back: the Inbox is off for this user (1008), or this session was ended on
    // the server, logged out here or on another device (4401). Else: "Reconnecting…".
    if (code === 1008) {
      say("The Inbox was turned off, or your access to it changed. " +
        "Reload to see what you can do now; anything typed here stays until you do.", true);
    } else if (code === 4401) {
      say("You were logged out, in this browser or on another device. " +
        "Reload to log in again; anything typed here stays until you do.", true);
    } else if ($("#live-status")) $("#live-status").hidden = false;
  });
  on("htmx:pushedIntoHistory", sendState);
  on("htmx:historyRestore", sendState);
  on("visibilitychange", sendState);
  on("htmx:wsAfterMessage", function () {
    var list = $("#messages");
    if (list && list.scrollHeight - list.scrollTop - list.clientHeight < 200) list.scrollTop = list.scrollHeight;
    syncTitle();
  });
  on("htmx:beforeRequest", function (event) {  // the row being opened (see "row" below)
    var row = event.target.closest && event.target.closest(".conv-row");
    if (row) opening = row.id;
  });

  // Out-of-band fragments placed by what this page shows: hx-swap-oob="<style>:<target>"
  // (templates/inbox/_live.html, _row_change.html). row: a new text's row goes to the top
  // of #conv-list, a changed one stays in its place, one back on this list (read in another
  // tab) goes in its place by time unless further down than the rows loaded; a moved row
  // keeps its tick. An empty one leaves the list, unless this tab reads it or is opening it.
  // bubble: replaced where it is, or appended, under its day's heading unless that is the
  // last one shown. notice: an alert. resync: the list and thread again.
  htmx.defineExtension("live", {
    handleSwap: function (style, target, wrap) {
      if (!/^(row|bubble|notice|resync)$/.test(style)) return false;  // htmx's own (innerHTML too)
      var el = wrap.lastElementChild, old = el && document.getElementById(el.id), next = old;
      var action = wrap.getAttribute("data-row") || wrap.getAttribute("data-bubble");
      if (style === "notice") notice(wrap);
      else if (style === "resync") resync();
      else if (style === "bubble") {
        var sep = $(".day-sep", wrap), seps = $all(".day-sep", target), last = seps[seps.length - 1];
        if (old) old.replaceWith(el);
        else if (action !== "append") return [];
        else {
          if (sep && (!last || last.textContent.trim() !== sep.textContent.trim())) target.appendChild(sep);
          target.appendChild(el);
        }
        return [el];
      } else if (style !== "row") return false;
      else if (action === "remove") {
        var id = wrap.getAttribute("data-id"), gone = document.getElementById(id);
        if (gone && id !== "conv-" + openThreadId() && id !== opening) gone.remove();
      } else {
        var at = Number(el.getAttribute("data-at"));
        if (action === "top") next = target.firstElementChild;
        else if (!old) next = $all(".conv-row", target).filter(function (r) { return r.getAttribute("data-at") < at; })[0];
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
  function setPref(key, value) { try { localStorage.setItem(key, value ? "1" : "0"); } catch (e) { /* private mode */ } }
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.18);
    } catch (e) { /* no audio */ }
  }
  function notice(el) {  // a patient's text; read where it lands when its thread is on screen
    var visible = document.visibilityState === "visible", id = el.getAttribute("data-conversation");
    if (el.getAttribute("data-open") === "1" && visible) {
      htmx.ajax("POST", "/inbox/c/" + id + "/seen" + location.search, { swap: "none", source: document.body, headers: BACKGROUND });
    }
    if (visible) return;
    if (prefs("ci-alerts") && window.Notification && Notification.permission === "granted") {
      new Notification("New text from " + el.getAttribute("data-first-name"),
        { body: "Open the Inbox to read and reply.", tag: "clinic-inbox-" + id });
    }
    if (prefs("ci-sound")) beep();
  }
  // The alert toggles in the inbox header. Alerts show as on only while the browser lets
  // them through; refused (now or before) or not supported, the page says so.
  function paintToggles() {
    [["ci-alerts", "alerts-toggle"], ["ci-sound", "sound-toggle"]].forEach(function (pair) {
      var btn = document.getElementById(pair[1]), lit = prefs(pair[0]);
      if (pair[0] === "ci-alerts") lit = lit && !!window.Notification && Notification.permission === "granted";
      if (btn) btn.setAttribute("aria-pressed", lit ? "true" : "false");
      if (btn) btn.classList.toggle("active", lit);
    });
  }
  function toggleAlerts(turnOn) {
    var blocked = $("#alerts-blocked");
    var set = function (lit) { setPref("ci-alerts", lit); paintToggles(); if (blocked) blocked.hidden = lit || !turnOn; };
    if (blocked) blocked.hidden = true;
    if (turnOn && !window.Notification) set(false);
    else if (turnOn && Notification.permission !== "granted") {
      Notification.requestPermission().then(function (answer) { set(answer === "granted"); });
    } else set(turnOn);
  }

  // Idle logoff: the server signs a user out after IDLE_LOGOFF_MINUTES without a user
  // request. A minute before, "You will be signed out in N s" with "Stay signed in". The
  // server's clock decides (other tabs may have been active): before warning, and when the
  // countdown ends, the page asks /session/status (which is not activity itself). Its
  // elements are looked up each time: a boosted form's answer swaps the body.
  var meta = $('meta[name="idle-logoff"]'), timer = null, tick = null, deadline = 0;
  var idle = meta && (parseFloat(meta.getAttribute("content")) || 900);
  var warning = meta && (parseFloat(meta.getAttribute("data-warning")) || 60);
  function paint() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if ($("#idle-seconds")) $("#idle-seconds").textContent = String(left);
    if (left <= 0) { clearInterval(tick); tick = null; check(); }
  }
  function schedule(remaining) {
    var warn = remaining <= warning;
    clearTimeout(timer);
    deadline = Date.now() + remaining * 1000;
    if ($("#idle-warning")) $("#idle-warning").hidden = !warn;
    if (!warn && tick) { clearInterval(tick); tick = null; }
    if (!warn) timer = setTimeout(check, (remaining - warning) * 1000);
    else if (!tick) tick = setInterval(paint, 1000);
    if (warn) paint();
  }
  function ask(url, options) {
    fetch(url, Object.assign({ credentials: "same-origin" }, options)).then(function (response) {
      var back = encodeURIComponent(location.pathname + location.search);
      if (response.status === 401) return location.assign("/login?next=" + back);
      if (!response.ok) throw new Error("status " + response.status);
      return response.json();
    }).then(function (data) { if (data) schedule(data.remaining); })
      .catch(function () { clearTimeout(timer); timer = setTimeout(check, 15000); });
  }
  function check() { ask("/session/status", { headers: { "X-Background": "1", "Accept": "application/json" } }); }
  function stay() {
    var token = "";
    try { token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { /* none */ }
    ask("/session/keepalive", { method: "POST", headers: { "X-CSRFToken": token, "Accept": "application/json" } });
  }
  on("htmx:afterRequest", function (event) {  // a user's own request renewed the server's clock
    if (meta && !background(event) && event.detail.successful) schedule(idle);
  });
  if (meta) schedule(idle);
})();
