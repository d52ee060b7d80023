/* pbx-bridge wallboard (issue 8): subscribes to the daemon's live MQTT state over WebSockets and
 * shows it. Read-only: it only subscribes, it never publishes.
 *
 * URL settings (all optional):
 *   broker=ws://127.0.0.1:9001   prefix=pbx-bridge/pbx1   user=...   password=...
 *   sl_target=0.8   abandon_target=0.05   wait_amber=60   wait_red=600   title=...
 * Served by the daemon, the page also reads wallboard-defaults.json for what the URL leaves out.
 */
(function () {
  "use strict";

  var MAX_ALERTS = 50;
  var STATE_LABELS = {
    available: "Available 空闲", ringing: "Ringing 振铃", "in-call": "On a call 通话中",
    paused: "Paused 暂停", unavailable: "Offline 离线", unknown: "Unknown 未知"
  };
  var REASONS = { meal: "用餐", lunch: "午餐", break: "休息", training: "培训", meeting: "会议",
    "ring-twice": "两次未接", admin: "事务", toilet: "洗手间" };

  var queues = new Map();   // topic part -> payload
  var agents = new Map();   // topic part -> payload
  var alerts = [];          // newest first
  var standing = new Map(); // key -> notice that stands until cleared (threat, incident, escalation)
  var status = null;        // {state, since}
  var link = "connecting";  // connecting | up | lost
  var lostSince = null;
  var lastError = "";
  var connectedAt = null;
  var cfg = null;
  var dirty = true;

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function num(value, fallback) {
    var n = parseFloat(value);
    return isFinite(n) ? n : fallback;
  }

  function settings(defaults) {
    var q = new URLSearchParams(location.search);
    function get(key, fallback) {
      var v = q.get(key);
      if (v !== null && v !== "") return v;
      if (defaults && defaults[key] !== undefined && defaults[key] !== null) return String(defaults[key]);
      return fallback;
    }
    var scheme = location.protocol === "https:" ? "wss" : "ws";
    var host = location.hostname || "127.0.0.1";
    if (host.indexOf(":") >= 0) host = "[" + host + "]";
    return {
      broker: get("broker", scheme + "://" + host + ":9001"),
      prefix: get("prefix", "pbx-bridge/pbx1").replace(/\/+$/, ""),
      user: get("user", ""),
      password: get("password", ""),
      slTarget: num(get("sl_target", "0.8"), 0.8),
      abandonTarget: num(get("abandon_target", "0.05"), 0.05),
      waitAmber: num(get("wait_amber", "60"), 60),
      waitRed: num(get("wait_red", "600"), 600),
      title: get("title", "")
    };
  }

  // --- formatting ---------------------------------------------------------------------------
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "—";
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }

  function pct(x) {
    return x === null || x === undefined ? "—" : Math.round(x * 1000) / 10 + "%";
  }

  function clock(iso) {
    var t = iso ? new Date(iso) : new Date();
    if (isNaN(t)) return "";
    return t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  function secondsSince(iso) {
    var t = Date.parse(iso);
    return isNaN(t) ? null : Math.max(0, (Date.now() - t) / 1000);
  }

  function waitLevel(s) {
    if (s === null) return "none";
    return s >= cfg.waitRed ? "red" : s >= cfg.waitAmber ? "amber" : "ok";
  }

  function slLevel(x) {
    if (x === null || x === undefined) return "none";
    return x >= cfg.slTarget ? "ok" : x >= cfg.slTarget - 0.1 ? "amber" : "red";
  }

  function abandonLevel(x) {
    if (x === null || x === undefined) return "none";
    return x <= cfg.abandonTarget ? "ok" : x <= cfg.abandonTarget * 2 ? "amber" : "red";
  }

  function worst(levels) {
    return levels.indexOf("red") >= 0 ? "red" : levels.indexOf("amber") >= 0 ? "amber" : "ok";
  }

  function reasonText(reason) {
    if (!reason) return "";
    var zh = REASONS[String(reason).toLowerCase()];
    return zh ? reason + " " + zh : reason;
  }

  // --- queue cards --------------------------------------------------------------------------
  var queueCards = new Map();

  function figure(parent, field, label, zh, big) {
    var box = el("div", "fig " + (big ? "big" : "small"));
    box.dataset.field = field;
    var l = el("div", "label", label + " ");
    l.appendChild(el("span", "zh", zh));
    box.appendChild(l);
    box.appendChild(el("div", "val", "—"));
    box.appendChild(el("div", "sub", ""));
    parent.appendChild(box);
    return box;
  }

  function setFig(box, text, level, sub) {
    var val = box.querySelector(".val");
    if (val.textContent !== text) val.textContent = text;
    box.dataset.level = level || "none";
    if (sub !== undefined) box.querySelector(".sub").textContent = sub;
  }

  function queueCard(name) {
    var card = queueCards.get(name);
    if (card) return card;
    card = el("article", "queue");
    card.dataset.queue = name;
    card.appendChild(el("h2", "qname", name));
    var big = el("div", "row big-row"), small = el("div", "row small-row");
    card.appendChild(big);
    card.appendChild(small);
    card.figs = {
      waiting: figure(big, "waiting", "Waiting", "排队", true),
      longest_wait: figure(big, "longest_wait", "Longest wait", "最长等待", true),
      answered: figure(small, "answered", "Answered", "接通", false),
      abandoned: figure(small, "abandoned", "Abandoned", "放弃", false),
      service_level: figure(small, "service_level", "Service level", "服务水平", false),
      abandon_rate: figure(small, "abandon_rate", "Abandon rate", "放弃率", false)
    };
    card.agentsLine = el("div", "agents-line");
    card.agentsLine.dataset.field = "agents";
    card.appendChild(card.agentsLine);
    queueCards.set(name, card);
    return card;
  }

  function renderQueue(name, p) {
    var card = queueCard(name);
    var waiting = p.waiting || 0;
    var wait = waiting && p.oldest_joined_at ? secondsSince(p.oldest_joined_at) : null;
    if (waiting && wait === null && p.longest_wait_s !== null) wait = p.longest_wait_s;
    var wl = waitLevel(wait);
    var sl = slLevel(p.service_level_today), ab = abandonLevel(p.abandon_rate_today);
    setFig(card.figs.waiting, String(waiting), waiting ? wl : "ok");
    setFig(card.figs.longest_wait, waiting ? duration(wait) : "—", waiting ? wl : "none");
    setFig(card.figs.answered, String(p.answered_today || 0), "none", "of " + (p.offered_today || 0) + " offered");
    setFig(card.figs.abandoned, String(p.abandoned_today || 0), p.abandoned_today ? ab : "none");
    setFig(card.figs.service_level, pct(p.service_level_today), sl,
      "target " + Math.round(cfg.slTarget * 100) + "% in " + (p.service_level_s || 20) + " s");
    setFig(card.figs.abandon_rate, pct(p.abandon_rate_today), ab,
      "target ≤ " + Math.round(cfg.abandonTarget * 1000) / 10 + "%");
    var a = p.agents || {};
    // "available" always (0 available is the news), the other states when someone is in them
    var line = [["available", "available"], ["ringing", "ringing"], ["in-call", "on call"], ["paused", "paused"],
      ["unavailable", "offline"], ["unknown", "unknown"]]
      .filter(function (k) { return k[0] === "available" || a[k[0]]; })
      .map(function (k) { return (a[k[0]] || 0) + " " + k[1]; }).join(" · ");
    if (card.agentsLine.textContent !== line) card.agentsLine.textContent = line;
    card.dataset.level = worst([waiting ? wl : "ok", sl, ab]);
    card.dataset.staffed = (a.available || 0) + (a.ringing || 0) + (a["in-call"] || 0) > 0 ? "yes" : "no";
    return card;
  }

  // --- agent tiles --------------------------------------------------------------------------
  var agentTiles = new Map();

  function agentTile(key) {
    var tile = agentTiles.get(key);
    if (tile) return tile;
    tile = el("div", "agent");
    tile.dataset.agent = key;
    tile.nameEl = tile.appendChild(el("div", "aname", key));
    var row = tile.appendChild(el("div", "arow"));
    tile.stateEl = row.appendChild(el("span", "astate"));
    tile.stateEl.dataset.field = "state";
    tile.timeEl = row.appendChild(el("span", "atime"));
    tile.timeEl.dataset.field = "time_in_state";
    tile.reasonEl = tile.appendChild(el("div", "areason"));
    tile.reasonEl.dataset.field = "pause_reason";
    tile.missEl = tile.appendChild(el("div", "amiss"));
    tile.missEl.dataset.field = "misses";
    agentTiles.set(key, tile);
    return tile;
  }

  function setText(e, text) { if (e.textContent !== text) e.textContent = text; }

  function renderAgent(key, p) {
    var tile = agentTile(key);
    var state = p.state || "unknown";
    setText(tile.nameEl, p.agent || key);
    tile.nameEl.title = p.interface || "";
    setText(tile.stateEl, STATE_LABELS[state] || state);
    setText(tile.timeEl, duration(secondsSince(p.since)));
    setText(tile.reasonEl, p.paused && p.pause_reason ? reasonText(p.pause_reason) : "");
    var misses = p.ring_twice_misses_today || 0;
    setText(tile.missEl, misses ? "Missed " + misses + "× today · 未接" : "");
    tile.dataset.misses = String(misses);
    tile.dataset.state = state;
    return tile;
  }

  // --- alerts -------------------------------------------------------------------------------
  function alertText(a) {
    switch (a.type) {
      case "long-wait":
        return ["Long wait · 等待超时", (a.number || "unknown number") + " waiting " + duration(a.wait_s) +
          " in " + a.queue];
      case "repeat-caller":
        return ["Repeat caller · 重复来电", a.number + " called " + a.unanswered_today + "× today, unanswered (" +
          a.queue + ")"];
      case "ring-twice-pause":
        return ["Paused · 两次未接", (a.agent || a.interface) + " missed " + a.misses + " calls, paused" +
          (a.reason ? " (" + a.reason + ")" : "")];
      case "threat":
        return ["Threat · 恐吓电话", "desk " + a.desk + " (" + a.agent + "), caller " + (a.number || "unknown") +
          (a.lead ? "; calling lead " + a.lead : "; no lead to call")];
      case "threat-manager":
        return ["Threat · 恐吓电话", "desk " + a.desk + ": no acknowledgement, calling manager " + a.manager +
          " (" + a.why + ")"];
      case "threat-acknowledged":
        return ["Threat · 已确认", "desk " + a.desk + ": acknowledged by " + a.by + " (" + a.via + ")"];
      case "escalation":
        return [a.direction === "down" ? "De-escalated · 降级" : "Escalated · 升级",
          a.queue + " step " + a.step + "/" + a.steps + " " + a.step_name +
          (a.actions && a.actions.length ? ": " + a.actions.join(", ") : "") + (a.reason ? " (" + a.reason + ")" : "")];
      case "qa-low-score":
        return ["Low score · 监听评分", (a.agent || "agent") + " scored " + a.score + "/5 by " + a.by +
          (a.queue ? " (" + a.queue + ")" : "")];
      case "incident-opened":
        return ["Incident · 事故", a.title + (a.queue ? " (" + a.queue + ")" : "") + (a.detail ? ": " + a.detail : "")];
      case "incident-closed":
        return ["Incident over · 事故结束", a.title + (a.queue ? " (" + a.queue + ")" : "") + " after " +
          duration(a.duration_s) + ", " + a.calls_affected + " calls affected"];
      case "recovery":
        return ["Recovered · 恢复", (a.agent || a.interface) + " " + (a.kind === "pause-unknown" ?
          "paused in " + a.queue + " by someone else while AMI was away" :
          (a.kind === "member-missing" ? "put back in " : "paused again in ") + a.queue)];
      default:
        return [a.type || "alert", JSON.stringify(a)];
    }
  }

  function addAlert(a) {
    var parts = alertText(a);
    var li = el("li", "alert");
    li.dataset.type = a.type || "other";
    li.appendChild(el("span", "atime", clock(a.at)));
    li.appendChild(el("span", "akind", parts[0]));
    li.appendChild(el("span", "atext", parts[1]));
    var list = $("alerts");
    list.insertBefore(li, list.firstChild);
    alerts.unshift(a);
    while (alerts.length > MAX_ALERTS) {
      alerts.pop();
      list.removeChild(list.lastChild);
    }
  }

  // --- render loop --------------------------------------------------------------------------
  function sortedKeys(map) {
    return Array.from(map.keys()).sort(function (a, b) { return a.localeCompare(b, "zh-Hans-CN"); });
  }

  function place(container, nodes) {
    var empty = container.querySelector(".empty");
    if (nodes.length && empty) container.removeChild(empty);
    nodes.forEach(function (node, i) {
      if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
    });
  }

  function banner() {
    var b = $("banner"), text = "", level = "";
    if (link === "connecting") {
      text = "Connecting to the broker at " + cfg.broker + "…" + (lastError ? " (" + lastError + ")" : "");
      level = lastError ? "red" : "info";
    } else if (link === "lost") {
      text = "Connection to the broker lost at " + clock(lostSince) + " — reconnecting… Figures are stale. 连接中断" +
        (lastError ? " (" + lastError + ")" : "");
      level = "red";
    } else if (status && status.state === "offline") {
      text = "pbx-bridge daemon offline" + (status.since ? " since " + clock(status.since) : "") +
        " — figures are stale. 后台服务离线";
      level = "red";
    } else if (!status && connectedAt && Date.now() - connectedAt > 5000) {
      text = "No status from pbx-bridge under “" + cfg.prefix + "” yet — is the daemon running and the prefix right?";
      level = "amber";
    }
    setText(b, text);
    b.className = "banner " + level;
    b.hidden = !text;
    var stale = link !== "up" || !status || status.state !== "online";
    document.body.classList.toggle("stale", stale);
    var l = $("link");
    var ls = link === "up" ? (status && status.state === "online" ? "live" : "daemon offline") :
      link === "lost" ? "reconnecting" : "connecting";
    setText(l, ls === "live" ? "● live" : ls);
    l.dataset.state = ls;
    l.className = "link " + (ls === "live" ? "up" : "down");
  }

  // --- standing notices: an open threat, incident or escalation step, until the daemon clears it ---
  function renderStanding() {
    var list = $("standing");
    var keys = Array.from(standing.keys()).sort();
    while (list.firstChild) list.removeChild(list.firstChild);
    keys.forEach(function (k) {
      var n = standing.get(k);
      var li = el("li", "notice");
      li.dataset.type = n.type || "other";
      li.dataset.severity = n.severity || "warning";
      li.appendChild(el("span", "atime", clock(n.at)));
      li.appendChild(el("span", "akind", n.title || n.type || "notice"));
      li.appendChild(el("span", "atext", n.text || ""));
      list.appendChild(li);
    });
    list.hidden = !keys.length;
  }

  function render() {
    renderStanding();
    var qnodes = sortedKeys(queues).map(function (k) { return renderQueue(k, queues.get(k)); });
    place($("queues"), qnodes);
    var anodes = sortedKeys(agents).map(function (k) { return renderAgent(k, agents.get(k)); });
    place($("agents"), anodes);
    banner();
    setText($("clock"), clock());
    dirty = false;
  }

  // --- MQTT ---------------------------------------------------------------------------------
  function onMessage(topic, payload) {
    var rest = topic.slice(cfg.prefix.length + 1);
    var data = null;
    if (payload && payload.length) {
      try { data = JSON.parse(new TextDecoder("utf-8").decode(payload)); } catch (e) { return; }
    }
    if (rest === "status") {
      status = data;
    } else if (rest.indexOf("standing/") === 0) {
      if (data) standing.set(rest.slice(9), data); else standing.delete(rest.slice(9));
    } else if (rest === "alerts") {
      if (data) addAlert(data);
    } else if (rest.indexOf("queue/") === 0) {
      if (data) queues.set(rest.slice(6), data); else queues.delete(rest.slice(6));
    } else if (rest.indexOf("agent/") === 0) {
      if (data) agents.set(rest.slice(6), data); else agents.delete(rest.slice(6));
    }
    dirty = true;
  }

  function connect() {
    if (typeof mqtt === "undefined") {
      lastError = "the MQTT client (vendor/mqtt.min.js) did not load";
      render();
      return;
    }
    var opts = {
      clientId: "wallboard-" + Math.random().toString(16).slice(2, 10),
      clean: true, keepalive: 20, reconnectPeriod: 2000, connectTimeout: 5000, protocolVersion: 4
    };
    if (cfg.user) opts.username = cfg.user;
    if (cfg.password) opts.password = cfg.password;
    var client = mqtt.connect(cfg.broker, opts);
    client.on("connect", function () {
      link = "up";
      lastError = "";
      connectedAt = Date.now();
      ["status", "queue/+", "agent/+", "alerts", "standing/+"].forEach(function (t) {
        client.subscribe(cfg.prefix + "/" + t, { qos: 1 }, function (err, granted) {
          if (err || (granted && granted.some(function (g) { return g.qos === 128; }))) {
            lastError = "subscription to " + t + " refused";
          }
        });
      });
      render();
    });
    client.on("message", onMessage);
    client.on("close", function () {
      if (link === "up") { link = "lost"; lostSince = new Date().toISOString(); }
      render();
    });
    client.on("error", function (err) {
      lastError = err && err.message ? err.message : String(err);
      render();
    });
    window.wallboardClient = client;  // for debugging from the console; the page never publishes
  }

  function start(defaults) {
    cfg = settings(defaults);
    var title = cfg.title || cfg.prefix.split("/").pop();
    $("title").textContent = title;
    document.title = title + " · wallboard";
    render();
    connect();
    setInterval(render, 1000);
    setInterval(function () { if (dirty) render(); }, 200);
  }

  function boot() {
    if (location.protocol !== "http:" && location.protocol !== "https:") return start(null);
    fetch("wallboard-defaults.json", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(start);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
