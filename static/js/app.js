// Clinic Inbox: the little behaviour htmx does not cover. No inline handlers anywhere.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(el.type)) || el.isContentEditable);
  }

  // Flash messages: a confirmation goes by itself after a while; any can be dismissed, so
  // none keeps covering what the page shows under it (the number just bought, say).
  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close-flash]");
    if (close) close.closest(".flash").remove();
  });
  $all(".flash[data-dismiss-after]").forEach(function (flash) {
    setTimeout(function () { flash.remove(); }, Number(flash.getAttribute("data-dismiss-after")));
  });

  // A form that would repeat something done a moment ago (a paperwork reminder sent
  // today) asks first. Capture: before htmx sends it.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  // Copy buttons (the Inbox number after setup, an invitation link): the text to the clipboard, and the button
  // says it did. Where the clipboard API is refused, the number is selected and copied the
  // old way; where that fails too, it stays selected for Ctrl+C.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var label = button.querySelector("span") || button;
    var done = function () {
      label.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { label.textContent = "Copy"; }, 2000);
    };
    var fallback = function () {
      var target = button.parentNode.querySelector("strong, code");
      if (!target) return;
      var range = document.createRange();
      range.selectNodeContents(target);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      if (copied) done();
    };
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  });

  // A click that failed says so. A 4xx other than a refusal the page shows itself (422) or
  // a sign-in redirect (401) means the page is out of date: the Inbox was turned off, the
  // user's access changed, the conversation is gone. A network error or a 5xx: try again.
  function say(message, withReload) {
    var stack = $(".flash-stack");
    if (!stack) {
      stack = document.createElement("div");
      stack.className = "flash-stack";
      document.body.appendChild(stack);
    }
    var old = document.getElementById("request-failed");
    if (old) old.remove();
    var flash = document.createElement("div");
    flash.className = "alert alert-danger py-2 mb-2 flash";
    flash.id = "request-failed";
    flash.setAttribute("role", "alert");
    flash.appendChild(document.createElement("span")).textContent = message;
    if (withReload) {
      var reload = flash.appendChild(document.createElement("button"));
      reload.type = "button";
      reload.className = "btn btn-sm btn-danger";
      reload.textContent = "Reload";
      reload.addEventListener("click", function () { window.location.reload(); });
    }
    var close = flash.appendChild(document.createElement("button"));
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("aria-label", "Dismiss");
    close.setAttribute("data-close-flash", "");
    stack.appendChild(flash);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var cfg = event.detail.requestConfig;
    if (cfg && cfg.headers && cfg.headers["X-Background"]) return;  // the page's own upkeep
    var status = event.detail.xhr.status;
    if (status === 401 || status === 422) return;
    if (status >= 500) say("That did not go through: the server had a problem. Please try again.", false);
    else say("This page is out of date (the Inbox may have been turned off or your access changed). " +
      "Reload it to see what you can do now.", true);
  });
  // The live socket closed because this user may no longer use the Inbox (turned off, the
  // privilege removed): say so now, not at the next click.
  document.addEventListener("ci:access-lost", function () {
    say("The Inbox was turned off, or your access to it changed. " +
      "Reload to see what you can do now; anything typed here stays until you do.", true);
  });
  document.addEventListener("ci:signed-out", function () {
    say("You were logged out, in this browser or on another device. " +
      "Reload to log in again; anything typed here stays until you do.", true);
  });
  document.addEventListener("htmx:sendError", function (event) {
    var cfg = event.detail.requestConfig;
    if (cfg && cfg.headers && cfg.headers["X-Background"]) return;
    say("Clinic Inbox could not be reached. Check the connection and try again.", false);
  });

  // Composer: Enter sends, Shift+Enter makes a new line.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("textarea[data-composer]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim()) box.form.requestSubmit();
    }
  });

  // A refused send's message belongs to the text it refused: once the box is emptied for a
  // new one, it goes (a new refusal brings its own).
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("textarea[data-composer]") || box.value.trim()) return;
    var error = $("#composer-error");
    if (error) error.remove();
  });

  // A live STOP swaps in a locked composer, and START the open one again: the reply that
  // was being typed in this thread comes back with it.
  var heldDraft = null;
  function openThreadId() {
    var thread = $(".thread[data-conversation]");
    return thread && thread.getAttribute("data-conversation");
  }
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "composer") return;
    var box = $("#composer-body", target);
    if (box && !box.disabled && box.value.trim()) heldDraft = { thread: openThreadId(), text: box.value };
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.target.id !== "composer" || !heldDraft) return;
    var box = $("#composer-body", event.target);
    if (heldDraft.thread !== openThreadId()) { heldDraft = null; return; }
    if (box && !box.disabled) {
      if (!box.value.trim()) box.value = heldDraft.text;
      heldDraft = null;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  // Saved replies: put the filled-in text into the message box.
  document.addEventListener("click", function (event) {
    var item = event.target.closest("[data-template-text]");
    if (!item) return;
    var box = $("#composer-body");
    if (!box) return;
    var text = item.getAttribute("data-template-text");
    box.value = box.value.trim() ? box.value.replace(/\s*$/, " ") + text : text;
    var menu = item.closest("details");
    if (menu) menu.open = false;
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // A button that must act once (Finish Setup): disabled right after it submits.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.hasAttribute("data-once")) {
      setTimeout(function () { button.disabled = true; button.textContent = "Working…"; }, 0);
    }
  });

  // Select all the loaded conversations.
  document.addEventListener("change", function (event) {
    if (event.target.id !== "select-all") return;
    $all(".conv-check").forEach(function (box) { box.checked = event.target.checked; });
  });

  // Dialogs (native <dialog>, no Bootstrap JS).
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && !dialog.open) dialog.showModal();
      if (!opener.hasAttribute("hx-get")) event.preventDefault();
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var d = closer.closest("dialog");
      if (d) d.close();
    }
  });

  // A text's status never goes back on screen. The answer to a send re-renders the thread
  // as it was a moment ago; by the time it arrives, the live update may already have shown
  // the text sent or delivered. Keep what was shown when the answer is older (a retry of a
  // failed or unconfirmed text starts again from queued: those are not ranked).
  var STATUS_RANK = { queued: 0, sending: 1, sent: 2, delivered: 3 };
  var shownStatus = null;
  function threadIn(target) {
    return target && (target.id === "messages" || target.querySelector("#messages"));
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    shownStatus = null;
    if (!threadIn(event.detail.target)) return;
    shownStatus = {};
    $all("#messages .msg .status[data-status]").forEach(function (s) {
      var rank = STATUS_RANK[s.getAttribute("data-status")];
      if (rank !== undefined) shownStatus[s.id] = { rank: rank, msg: s.closest(".msg") };
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    var before = shownStatus;
    shownStatus = null;
    if (!before) return;
    $all("#messages .msg .status[data-status]").forEach(function (s) {
      var was = before[s.id];
      var rank = STATUS_RANK[s.getAttribute("data-status")];
      var msg = s.closest(".msg");
      if (!was || rank === undefined || rank >= was.rank || msg === was.msg) return;
      msg.replaceWith(was.msg);
      if (window.htmx) window.htmx.process(was.msg);
    });
  });

  // Opening a thread: the stacked (tablet/phone) layout switches to the thread screen.
  // Earlier messages load above what the user reads: keep their place, do not jump down.
  var olderFrom = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var list = $("#messages");
    olderFrom = event.detail.target && event.detail.target.id === "load-older" && list ? list.scrollHeight - list.scrollTop : null;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (olderFrom !== null) {
      var list = $("#messages");
      if (list) list.scrollTop = list.scrollHeight - olderFrom;
      olderFrom = null;
      return;
    }
    var grid = $("#inbox-grid");
    if (grid && event.detail.target && event.detail.target.id === "thread-pane") {
      grid.classList.add("has-thread");
      var open = String(currentConversation());
      $all(".conv-row.selected").forEach(function (row) {
        if (row.id !== "conv-" + open) row.classList.remove("selected");
      });
      // The pane of a conversation already read comes alone (nothing around it changed).
      var picked = document.getElementById("conv-" + open);
      if (picked) picked.classList.add("selected");
    }
    scrollThread();
    syncTitle();
  });

  function currentConversation() {
    var thread = $(".thread[data-conversation]");
    return thread ? thread.getAttribute("data-conversation") : null;
  }

  function scrollThread() {
    var list = $("#messages");
    if (!list) return;
    var hit = $("mark", list);
    if (hit) hit.scrollIntoView({ block: "center" });
    else list.scrollTop = list.scrollHeight;
  }

  // "(3) Inbox": the unread count in the browser tab's title.
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function syncTitle() {
    var badge = $("#inbox-badge");
    var n = badge ? parseInt(badge.getAttribute("data-count") || "0", 10) : 0;
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle;
  }

  // Keyboard: j/k move, Enter opens, r replies, u toggles unread, / searches, ? helps.
  function rows() { return $all(".conv-row"); }
  function focusedIndex() {
    var list = rows();
    for (var i = 0; i < list.length; i++) if (list[i].classList.contains("kbd-focus")) return i;
    for (var j = 0; j < list.length; j++) if (list[j].classList.contains("selected")) return j;
    return -1;
  }
  function moveFocus(step) {
    var list = rows();
    if (!list.length) return;
    var i = Math.min(Math.max(focusedIndex() + step, 0), list.length - 1);
    list.forEach(function (row) { row.classList.remove("kbd-focus"); });
    list[i].classList.add("kbd-focus");
    list[i].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var active = document.activeElement;
    if (event.key === "Escape" && typing(active)) { active.blur(); return; }
    if (typing(active) || $("dialog[open]")) return;
    switch (event.key) {
      case "j": moveFocus(1); break;
      case "k": moveFocus(-1); break;
      case "Enter": {
        var row = $(".conv-row.kbd-focus");
        if (!row) return;
        $(".conv-link", row).click();
        break;
      }
      case "r": { var box = $("#composer-body"); if (box && !box.disabled) box.focus(); else return; break; }
      case "u": {
        var toggle = $("#toggle-unread");
        if (!toggle || !window.htmx) return;
        // Through htmx even if the thread was swapped in a moment ago.
        window.htmx.process(toggle.form);
        window.htmx.trigger(toggle.form, "submit");
        break;
      }
      case "/": { var search = $("#search-q"); if (search) search.focus(); else return; break; }
      case "?": { var help = $("#shortcuts-dialog"); if (help) help.showModal(); else return; break; }
      default: return;
    }
    event.preventDefault();
  });

  // On a phone the menu is one row that scrolls sideways: the clinic picked (else the view)
  // is scrolled into sight, so the filter on the list is never off-screen.
  function showPicked() {
    var menu = $("#menu");
    if (!menu || menu.scrollWidth <= menu.clientWidth) return;
    var picked = $("#menu .menu-item.active[data-clinic]") || $("#menu .menu-item.active[data-view]");
    if (!picked) return;
    var box = menu.getBoundingClientRect(), item = picked.getBoundingClientRect();
    menu.scrollLeft += (item.left - box.left) - (box.width - item.width) / 2;
  }
  document.addEventListener("DOMContentLoaded", function () { scrollThread(); syncTitle(); showPicked(); });
  window.addEventListener("load", showPicked); // again once styles and icon fonts have sized it
  document.addEventListener("htmx:pushedIntoHistory", showPicked); // a view or clinic picked
  // The menu is swapped in again with new counts (live updates, the socket's first
  // message): it keeps where it was scrolled to.
  var menuScroll = null;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "menu") menuScroll = target.scrollLeft;
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.target.id !== "menu" || menuScroll === null) return;
    event.target.scrollLeft = menuScroll;
    menuScroll = null;
  });
  document.addEventListener("ci:badge", syncTitle);
  document.addEventListener("htmx:wsAfterMessage", function () {
    var list = $("#messages");
    if (list && list.scrollHeight - list.scrollTop - list.clientHeight < 200) list.scrollTop = list.scrollHeight;
  });
})();

// Live: the websocket (htmx ws extension) swaps fragments in; this keeps the server told
// what the tab shows, resynchronises after a reconnect, and raises alerts.
(function () {
  "use strict";
  var socket = null, opens = 0, lastNotice = null, lastResync = null;
  // Requests this script makes by itself (not the user): they must not keep the session
  // alive, or an open tab would never be signed out for inactivity.
  var BACKGROUND = { "X-Background": "1" };

  // Reconnect within seconds of a restart or a dropped network. htmx's own backoff grows to
  // a minute, so a tab could stay "Reconnecting…" long after the server was back. Jittered,
  // so a clinic's tabs do not all knock at once.
  if (window.htmx) {
    window.htmx.config.wsReconnectDelay = function (attempt) {
      var ceiling = Math.min(5000, 500 * Math.pow(2, attempt));
      return ceiling / 2 + Math.random() * ceiling / 2;
    };
  }

  function state() {
    return JSON.stringify({
      path: location.pathname, search: location.search,
      visible: document.visibilityState === "visible",
      // What the page was rendered under: the server resyncs it if that changed before the
      // socket listened. A reconnected socket resyncs by itself.
      generation: opens === 1 ? document.body.dataset.liveGeneration || "" : ""
    });
  }
  function sendState() { if (socket) socket.send(state()); }

  function resync() {
    if (!window.htmx) return;
    var filters = location.search;
    if (document.getElementById("list-body")) {
      window.htmx.ajax("GET", "/inbox" + filters,
        { target: "#list-body", swap: "innerHTML", headers: BACKGROUND });
    }
    if (document.getElementById("messages")) {
      window.htmx.ajax("GET", location.pathname + filters,
        { target: "#messages", select: "#messages", swap: "outerHTML", headers: BACKGROUND });
    }
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    opens += 1;
    var status = document.getElementById("live-status");
    if (status) status.hidden = true;
    sendState();
    if (opens > 1) resync(); // anything that happened while we were away
  });
  document.addEventListener("htmx:wsClose", function (event) {
    var closed = event.detail && event.detail.event;
    if (closed && closed.code === 1008) {
      // Not coming back (policy): the Inbox is off for this user, no "reconnecting".
      document.dispatchEvent(new CustomEvent("ci:access-lost"));
      return;
    }
    if (closed && closed.code === 4401) {
      // This session was ended on the server (logged out here or on another device).
      document.dispatchEvent(new CustomEvent("ci:signed-out"));
      return;
    }
    var status = document.getElementById("live-status");
    if (status) status.hidden = false;
  });
  document.addEventListener("htmx:pushedIntoHistory", sendState);
  document.addEventListener("htmx:historyRestore", sendState);
  document.addEventListener("visibilitychange", sendState);

  function prefs(key) { try { return localStorage.getItem(key) === "1"; } catch (e) { return false; } }
  function setPref(key, on) { try { localStorage.setItem(key, on ? "1" : "0"); } catch (e) { /* private mode */ } }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.18);
    } catch (e) { /* no audio */ }
  }

  function notice(el) {
    var open = el.getAttribute("data-open") === "1";
    var visible = document.visibilityState === "visible";
    var id = el.getAttribute("data-conversation");
    if (open && visible && window.htmx) {
      // Read where it lands: the thread is on screen.
      window.htmx.ajax("POST", "/inbox/c/" + id + "/seen" + location.search,
        { swap: "none", source: document.body, headers: BACKGROUND });
    }
    if (!visible) {
      if (prefs("ci-alerts") && window.Notification && Notification.permission === "granted") {
        new Notification("New text from " + el.getAttribute("data-first-name"),
          { body: "Open the Inbox to read and reply.", tag: "clinic-inbox-" + id });
      }
      if (prefs("ci-sound")) beep();
    }
  }

  var lastClicked = null;
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest(".conv-row");
    if (row) lastClicked = row.id.slice(5); // "conv-<id>"
  });
  document.addEventListener("keydown", function (event) {
    var row = event.key === "Enter" && document.querySelector(".conv-row.kbd-focus");
    if (row) lastClicked = row.id.slice(5); // "conv-<id>"
  });

  function fromTemplate(t) {
    return document.importNode(t.content, true).firstElementChild;
  }
  function applyChanges() {
    var box = document.getElementById("live-changes");
    if (!box) return;
    var list = document.getElementById("conv-list");
    var thread = document.getElementById("messages");
    Array.prototype.forEach.call(box.querySelectorAll("template[data-row]"), function (t) {
      var old = document.getElementById(t.getAttribute("data-id"));
      var action = t.getAttribute("data-row");
      if (action === "remove") {
        // The row of the conversation this tab is reading (or just clicked) stays put.
        var cid = old && old.id.slice(5); // "conv-<id>"
        var thread = document.querySelector(".thread[data-conversation]");
        var reading = thread && thread.getAttribute("data-conversation");
        if (old && cid !== reading && cid !== lastClicked) old.remove();
        return;
      }
      var row = fromTemplate(t);
      if (!row) return;
      var box2 = old && old.querySelector(".conv-check");
      if (box2 && box2.checked) row.querySelector(".conv-check").checked = true;
      if (action === "top" && list) {
        if (old) old.remove();
        var empty = list.querySelector(".conv-empty");
        if (empty) empty.remove();
        list.insertBefore(row, list.firstChild);
      } else if (old) {
        old.replaceWith(row);
      } else if (list) {
        // It belongs on this list now (read in another tab, say): in its place by time,
        // unless that place is further down than the rows loaded so far.
        var at = Number(row.getAttribute("data-at"));
        var next = null;
        Array.prototype.some.call(list.querySelectorAll(".conv-row"), function (r) {
          if (Number(r.getAttribute("data-at")) < at) { next = r; return true; }
          return false;
        });
        var more = list.querySelector(".conv-more");
        if (!next && more) return;
        var none = list.querySelector(".conv-empty");
        if (none) none.remove();
        list.insertBefore(row, next || more);
      } else {
        return;
      }
      if (window.htmx) window.htmx.process(row);
    });
    Array.prototype.forEach.call(box.querySelectorAll("template[data-bubble]"), function (t) {
      var old = document.getElementById(t.getAttribute("data-id"));
      var bubble = fromTemplate(t);
      if (!bubble) return;
      if (old) old.replaceWith(bubble);
      else if (t.getAttribute("data-bubble") === "append" && thread) {
        // A text from a new day opens that day's heading, as the thread shows on a reload.
        var day = t.getAttribute("data-day");
        var seps = thread.querySelectorAll(".day-sep");
        var last = seps.length ? seps[seps.length - 1].textContent.trim() : null;
        if (day && day !== last) {
          var sep = document.createElement("div");
          sep.className = "day-sep";
          sep.appendChild(document.createElement("span")).textContent = day;
          thread.appendChild(sep);
        }
        thread.appendChild(bubble);
      } else return;
      if (window.htmx) window.htmx.process(bubble);
    });
    box.innerHTML = "";
  }
  document.addEventListener("htmx:afterSettle", applyChanges);
  document.addEventListener("htmx:oobAfterSwap", applyChanges);

  document.addEventListener("htmx:wsAfterMessage", function () {
    applyChanges();
    var n = document.getElementById("live-notice");
    var seq = n && n.getAttribute("data-seq");
    if (seq && seq !== lastNotice) { lastNotice = seq; notice(n); }
    var r = document.getElementById("live-resync");
    var at = r && r.getAttribute("data-at");
    if (at && at !== lastResync) { lastResync = at; resync(); }
    var badge = document.getElementById("inbox-badge");
    if (badge) document.dispatchEvent(new Event("ci:badge"));
  });

  // The alert toggles in the inbox header.
  function paintToggles() {
    [["ci-alerts", "alerts-toggle"], ["ci-sound", "sound-toggle"]].forEach(function (pair) {
      var btn = document.getElementById(pair[1]);
      if (!btn) return;
      var on = prefs(pair[0]);
      // Alerts show as on only while the browser lets them through.
      if (pair[0] === "ci-alerts") on = on && !!window.Notification && Notification.permission === "granted";
      btn.setAttribute("aria-pressed", on ? "true" : "false");
      btn.classList.toggle("active", on);
    });
  }
  document.addEventListener("click", function (event) {
    var alerts = event.target.closest("#alerts-toggle");
    var sound = event.target.closest("#sound-toggle");
    if (alerts) {
      var turnOn = alerts.getAttribute("aria-pressed") !== "true";  // as painted
      var blocked = document.getElementById("alerts-blocked");
      if (blocked) blocked.hidden = true;
      // Refused (now or before) or not supported: say so, rather than a toggle that
      // silently stays off.
      var refused = function () { setPref("ci-alerts", false); paintToggles(); if (blocked) blocked.hidden = false; };
      if (turnOn && !window.Notification) { refused(); return; }
      if (turnOn && Notification.permission !== "granted") {
        Notification.requestPermission().then(function (answer) {
          if (answer === "granted") { setPref("ci-alerts", true); paintToggles(); } else refused();
        });
        return;
      }
      setPref("ci-alerts", turnOn); paintToggles();
    }
    if (sound) { setPref("ci-sound", !prefs("ci-sound")); paintToggles(); if (prefs("ci-sound")) beep(); }
  });
  document.addEventListener("DOMContentLoaded", paintToggles);
})();

// Idle logoff: the server signs a user out after IDLE_LOGOFF_MINUTES without a user
// request. A minute before, this shows "You will be signed out in N s" with "Stay signed
// in". The server's clock decides (other tabs may have been active): before warning, and
// when the countdown ends, the page asks /session/status (which does not count as
// activity itself).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="idle-logoff"]');
  var box = document.getElementById("idle-warning");
  if (!meta || !box) return;
  var idle = parseFloat(meta.getAttribute("content")) || 900;
  var warning = parseFloat(meta.getAttribute("data-warning")) || 60;
  var seconds = document.getElementById("idle-seconds");
  var timer = null, tick = null, deadline = 0;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }
  function signedOut() {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  function hide() {
    box.hidden = true;
    if (tick) { clearInterval(tick); tick = null; }
  }
  function paint() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    seconds.textContent = String(left);
    if (left <= 0) { clearInterval(tick); tick = null; check(); }
  }
  function show() {
    box.hidden = false;
    if (!tick) tick = setInterval(paint, 1000);
    paint();
  }
  function schedule(remaining) {
    clearTimeout(timer);
    deadline = Date.now() + remaining * 1000;
    if (remaining <= warning) { show(); return; }
    hide();
    timer = setTimeout(check, (remaining - warning) * 1000);
  }
  function answer(response) {
    if (response.status === 401) { signedOut(); return null; }
    if (!response.ok) throw new Error("status " + response.status);
    return response.json();
  }
  function retryLater() { clearTimeout(timer); timer = setTimeout(check, 15000); }
  function check() {
    fetch("/session/status", { credentials: "same-origin", headers: { "X-Background": "1", "Accept": "application/json" } })
      .then(answer)
      .then(function (data) { if (data) schedule(data.remaining); })
      .catch(retryLater);
  }
  function stay() {
    fetch("/session/keepalive", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(answer).then(function (data) { if (data) schedule(data.remaining); }).catch(retryLater);
  }
  document.getElementById("idle-stay").addEventListener("click", stay);
  // A user's own htmx request renewed the server's clock: start counting again.
  document.addEventListener("htmx:afterRequest", function (event) {
    var cfg = event.detail && event.detail.requestConfig;
    var background = cfg && cfg.headers && cfg.headers["X-Background"];
    if (!background && event.detail.successful) schedule(idle);
  });
  schedule(idle);
})();
