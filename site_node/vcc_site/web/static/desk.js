// The agent desktop: sign-in, states, the screen pop and the call's actions.
// Server push: one EventSource on /api/events (the agent's desk events); every action is
// a JSON POST carrying the CSRF value (cookie vcc_csrf repeated in X-VCC-CSRF).
"use strict";
(() => {
  const M = window.VCC_DESK_M;
  const IDLE = new Set(["ready", "not_ready", "logged_out"]);
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("vcc-lang") === "en" ? "en" : "zh";
  let meta = { sites: [], businesses: [], reasons: [] };
  let agent = null;   // last agent status event
  let call = null;    // { call_id, state, pop }
  let es = null;
  // per kind of event (agent, call, offer ...), the seq of the last one applied: the feed's
  // order is the truth, but a call action's answer may overtake pushes of another kind
  // (the agent's wrap-up), which must still apply
  let applied = {};
  let wrapEnd = 0;
  let initial = "";  // the initial password, kept in memory only until it is changed
  let session = false;  // signed in on this page (a sign-in may beat the start-up check)
  let focusNext = "";
  let farewell = "";
  let tried = false;  // the sign-in form was sent (maybe before the start-up check ended)  // why the team leader signed this agent out, shown at the sign-in  // the control to focus once it is enabled (the pop's answer key)

  const t = (key) => (M[lang][key] !== undefined ? M[lang][key] : key);
  const hooks = { event: [], render: [], signedIn: [], signedOut: [] };  // desk_more.js

  function csrf() {
    const hit = document.cookie.split("; ").find((c) => c.startsWith("vcc_csrf="));
    return hit ? decodeURIComponent(hit.slice(9)) : "";
  }

  async function api(path, body) {
    let r;
    try {
      r = await fetch(path, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-VCC-CSRF": csrf() },
        body: JSON.stringify(body || {})
      });
    } catch (e) {
      throw Object.assign(new Error("network"), { code: "network", detail: "" });
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.detail || ""), { code: data.error || "internal", detail: data.detail || "", field: data.field || "" });
    return data;
  }

  function say(text) { $("notice").textContent = text; $("error").textContent = ""; }
  function fail(err) {
    if (err.code === "session_expired") { signedOut("e_session_expired"); return; }
    const detail = err.detail && !["wrong_login", "csrf"].includes(err.code) ? ` (${err.detail})` : "";
    $("error").textContent = t("e_" + err.code) + detail;
    const input = err.field && err.field.startsWith("fields.") ? $("wo-f-" + err.field.slice(7)) : null;
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.title = t("title") + " · vcc";
    fillSelects();
    render();
  }

  function option(value, text) { const o = document.createElement("option"); o.value = value; o.textContent = text; return o; }

  function fillSelects() {
    const reason = $("reason"), keep = reason.value;
    reason.replaceChildren(...meta.reasons.map((r) => option(r, t("r_" + r))));
    if (keep) reason.value = keep;
    const site = $("t-site"), keepSite = site.value || meta.site_id || "";
    site.replaceChildren(...meta.sites.map((s) => option(s.id, `${s.name} (${s.id})`)));
    site.value = keepSite;
    fillBusinesses();
  }

  function fillBusinesses() {
    const site = $("t-site").value, sel = $("t-business"), keep = sel.value;
    sel.replaceChildren(...meta.businesses.filter((b) => b.sites.includes(site)).map((b) => option(b.id, b.name)));
    if (keep) sel.value = keep;
  }

  function businessName(id) { const b = meta.businesses.find((x) => x.id === id); return b ? b.name : id; }
  function siteName(id) { const s = meta.sites.find((x) => x.id === id); return s ? `${s.name} (${id})` : id; }

  function render() {
    const state = agent ? agent.state : "logged_out";
    const st = $("agent-state");
    st.className = "state " + state;
    st.textContent = t("s_" + state) + (state === "not_ready" && agent.reason !== "unspecified" ? ` · ${t("r_" + agent.reason)}` : "");
    $("ready").disabled = !(state === "not_ready");
    $("notready").disabled = !["ready", "not_ready", "wrap_up"].includes(state);
    const cs = call ? call.state : "";
    $("answer").disabled = !(cs === "offered" && state === "ringing");
    $("hold").disabled = cs !== "connected";
    $("resume").disabled = cs !== "held";
    $("hangup").disabled = !["connected", "held"].includes(cs);
    $("transfer-form").hidden = cs !== "connected";
    $("pop").hidden = !call;
    if (call) renderPop();
    $("wrapup-form").hidden = state !== "wrap_up";
    hooks.render.forEach((h) => h());
    const next = focusNext ? $(focusNext) : null;
    if (next && !next.disabled && !next.closest("[hidden]")) { next.focus(); focusNext = ""; }
  }

  function renderPop() {
    const p = call.pop, c = p.customer;
    $("pop-number").textContent = c.masked_number;
    $("pop-customer").textContent = c.customer_id ? `${c.name} (${c.customer_id})` : t("unknown_caller");
    const tier = $("pop-tier");
    tier.textContent = t("t_" + c.tier);
    tier.className = "tier-" + c.tier;
    $("pop-home").textContent = c.home_site_id ? siteName(c.home_site_id) + (c.from_hub_copy ? t("hub_copy") : "") : "—";
    $("pop-business").textContent = `${businessName(p.business_id)} · ${p.dialed_code}`;
    $("pop-ivr").textContent = p.ivr_path.length ? p.ivr_path.map((s) => `${s.node}${s.digits ? " [" + s.digits + "]" : ""}`).join(" → ") : "—";
    const pin = $("pop-pin");
    pin.textContent = t(p.pin_verified ? "pin_yes" : "pin_no");
    pin.className = p.pin_verified ? "yes" : "no";
    $("pop-orders").textContent = String(c.open_work_orders);
    $("pop-state").textContent = t("c_" + call.state);
    $("pop-wait").textContent = `${Math.round(call.waited_ms / 1000)} ${t("seconds")}`;
    $("pop-kind").textContent = call.kind === "initial" ? "" : t("k_" + call.kind);
    const notes = [...p.previous_legs.filter((l) => l.note).map((l) => `${siteName(l.site_id)} ${l.agent_id}: ${l.note}`), ...p.notes];
    $("pop-notes-box").hidden = notes.length === 0;
    $("pop-notes").replaceChildren(...notes.map((n) => { const li = document.createElement("li"); li.textContent = n; return li; }));
    renderOrderForm();
    tick();
  }

  function formOf(businessId) {
    const b = meta.businesses.find((x) => x.id === businessId);
    return b ? b.form : [];
  }

  function renderOrderForm() {
    const form = formOf(call.pop.business_id), box = $("wo-fields");
    $("wo-form").hidden = !form.length || call.order || !["connected", "held", "ended"].includes(call.state);
    if (box.dataset.call !== call.call_id) {
      box.dataset.call = call.call_id;
      box.replaceChildren(...form.map((name) => {
        const label = document.createElement("label"), span = document.createElement("span");
        const input = document.createElement("input");
        span.dataset.field = name;
        input.id = "wo-f-" + name; input.name = name; input.maxLength = 2000;
        input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
        label.append(span, " ", input);
        return label;
      }));
    }
    box.querySelectorAll("span[data-field]").forEach((s) => {
      const key = "f_" + s.dataset.field;
      s.textContent = M[lang][key] || s.dataset.field;
    });
  }

  function tick() {
    if (agent && agent.state === "wrap_up") {
      $("countdown").textContent = `${Math.max(0, Math.ceil((wrapEnd - Date.now()) / 1000))} ${t("seconds")}`;
    }
  }

  // The answer to a POST and its pushed copy come over two connections in either order,
  // and a reconnect replays what is already shown: an event no newer than the last one of
  // its kind applied is dropped, so a late answer never puts back a state the call has left.
  function fresh(ev) {
    if (typeof ev.seq !== "number") return true;  // hello, closed
    if (ev.seq <= (applied[ev.type] || 0)) return false;
    applied[ev.type] = ev.seq;
    return true;
  }

  function onEvent(ev) {
    if (!fresh(ev)) return;
    switch (ev.type) {
      case "hello":
        $("agent-name").textContent = `${ev.name} (${ev.agent_id})`;
        break;
      case "agent": {
        const was = agent ? agent.state : "";
        agent = ev;
        if (IDLE.has(ev.state)) call = null;
        if (ev.state === "busy" && call && call.state === "offered") setCallState("connected");
        if (ev.state === "wrap_up") {
          wrapEnd = Date.now() + (ev.wrapup_left_ms || 0);
          if (call && call.state !== "ended") setCallState("ended");
          if (was !== "wrap_up") focusNext = "disposition";
        }
        break;
      }
      case "offer":
        call = { call_id: ev.call_id, state: "offered", pop: ev.pop, kind: ev.kind, waited_ms: ev.waited_ms };
        focusNext = "answer";
        break;
      case "call":
        if (call && call.call_id === ev.call_id) setCallState(ev.state);
        break;
      case "transfer":
        showTransfer(ev);
        break;
      case "consult":
        say(`${ev.phase} ${ev.peer_agent_id} ${ev.reason}`.trim());
        break;
      case "notice":
        say(ev.text);
        if (ev.code === "signed_out_by_supervisor") farewell = ev.text;  // shown once signed out
        break;
      case "closed":
        signedOut(farewell ? "" : "e_session_ended");
        return;
    }
    hooks.event.forEach((h) => h(ev));
    render();
  }

  function setCallState(state) { if (call.state !== "ended") call.state = state; }  // ended is final

  function showTransfer(ev) {
    if (ev.outcome === "accepted") {
      say(t("n_transfer_accepted") + ` ${siteName(ev.site_id)}${ev.agent_id ? " " + ev.agent_id : ""}`);
      $("t-note").value = ""; $("t-agent").value = "";
    }
    else if (ev.outcome === "timeout") $("error").textContent = t("n_transfer_timeout");
    else $("error").textContent = t("n_transfer_refused") + ev.reason;
  }

  function listen() {
    if (es) es.close();
    es = new EventSource("/api/events");
    es.onmessage = (m) => onEvent(JSON.parse(m.data));
    es.onopen = () => { if ($("error").textContent === t("e_network")) $("error").textContent = ""; };
    es.onerror = () => {
      if (es && es.readyState === EventSource.CLOSED) { checkSession(); }
      else $("error").textContent = t("e_network");
    };
  }

  function signedIn() {
    session = true;
    applied = {};  // a new session's feed counts from 1
    initial = "";
    $("change").hidden = true;
    $("login").hidden = true; $("desk").hidden = false; $("who").hidden = false; $("signout").hidden = false;
    listen();
    hooks.signedIn.forEach((h) => h());
    render();
    $("ready").focus();
  }

  function signedOut(messageKey) {
    session = false;
    initial = "";
    $("change").hidden = true;
    if (es) { es.close(); es = null; }
    agent = null; call = null; applied = {};
    hooks.signedOut.forEach((h) => h());
    $("desk").hidden = true; $("who").hidden = true; $("signout").hidden = true; $("login").hidden = false;
    $("notice").textContent = "";
    $("error").textContent = "";
    $("login-error").textContent = messageKey ? t(messageKey) : farewell;
    farewell = "";
    $("password").value = "";
    $("agent-id").focus();
  }

  async function checkSession() {
    const r = await fetch("/api/me", { credentials: "same-origin" });
    const me = await r.json().catch(() => ({}));
    if (me.signed_in) signedIn(); else if (es) signedOut("e_session_expired");
  }

  let inFlight = 0;  // the call's actions not answered yet: the pop is aria-busy meanwhile
  function busy(step) {
    inFlight += step;
    if (inFlight > 0) $("pop").setAttribute("aria-busy", "true"); else $("pop").removeAttribute("aria-busy");
  }

  async function act(fn) {
    try { await fn(); } catch (err) { fail(err); }
  }

  function bind() {
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      tried = true;
      $("login-error").textContent = "";
      try {
        const reply = await api("/api/login", { agent_id: $("agent-id").value, password: $("password").value });
        if (reply.must_change) {
          initial = $("password").value;
          $("password").value = "";
          $("login").hidden = true; $("change").hidden = false;
          $("change-error").textContent = "";
          $("new-password").focus();
          return;
        }
        $("password").value = "";
        say(t("n_signed_in"));
        signedIn();
      } catch (err) {
        $("login-error").textContent = t("e_" + err.code) + (err.code === "locked" ? ` (${err.detail})` : "");
        $("password").select();
      }
    });
    $("change-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const fresh = $("new-password").value;
      if (fresh !== $("confirm-password").value) { $("change-error").textContent = t("e_mismatch"); return; }
      try {
        await api("/api/change-password", { old_password: initial, new_password: fresh });
        $("new-password").value = ""; $("confirm-password").value = "";
        say(t("n_signed_in"));
        signedIn();
      } catch (err) {
        if (err.code === "change_refused" || err.code === "session_expired") { signedOut("e_change_refused"); return; }
        $("change-error").textContent = t("e_" + err.code) + (err.detail ? ` (${err.detail})` : "");
        $("new-password").select();
      }
    });
    $("lang").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      localStorage.setItem("vcc-lang", lang);
      applyLang();
    });
    $("signout").addEventListener("click", () => act(async () => { await api("/api/logout"); signedOut(""); say(t("n_signed_out")); }));
    $("ready").addEventListener("click", () => act(() => api("/api/ready")));
    $("notready").addEventListener("click", () => act(() => api("/api/not-ready", { reason: $("reason").value })));
    for (const action of ["answer", "hold", "resume", "hangup"]) {
      $(action).addEventListener("click", () => act(async () => {
        if (!call) return;
        busy(1);
        try { onEvent(await api(`/api/call/${action}`, { call_id: call.call_id })); } finally { busy(-1); }
      }));
    }
    $("t-site").addEventListener("change", fillBusinesses);
    $("transfer-form").addEventListener("submit", (e) => {
      e.preventDefault();
      act(async () => {
        if (!call) return;
        const ev = await api("/api/transfer", {
          call_id: call.call_id, site_id: $("t-site").value, business_id: $("t-business").value,
          agent_id: $("t-agent").value.trim(), note: $("t-note").value
        });
        showTransfer(ev);
      });
    });
    $("wo-form").addEventListener("submit", (e) => {
      e.preventDefault();
      act(async () => {
        if (!call) return;
        const fields = {};
        $("wo-fields").querySelectorAll("input").forEach((i) => { fields[i.name] = i.value; });
        const order = await api("/api/work-order", { call_id: call.call_id, fields });
        call.order = order.order_id;
        say(t("n_order") + `${order.order_id} · ${order.department}`);
        render();
      });
    });
    $("wrapup-form").addEventListener("submit", (e) => {
      e.preventDefault();
      act(async () => {
        const callId = (agent && agent.call_id) || (call && call.call_id);
        if (!callId) return;
        await api("/api/wrap-up", { call_id: callId, disposition: $("disposition").value, notes: $("wrap-notes").value });
        $("wrap-notes").value = "";
        say(t("n_wrapped"));
      });
    });
    document.addEventListener("keydown", (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const el = document.querySelector(`button[data-key="${e.key.toLowerCase()}"]`);
      if (!el || el.disabled || el.closest("[hidden]")) return;
      e.preventDefault();
      el.focus();
      el.click();
    });
  }

  async function start() {
    bind();
    meta = await (await fetch("/api/meta", { credentials: "same-origin" })).json();
    $("site-name").textContent = `· ${meta.site_name} (${meta.site_id})`;
    applyLang();
    setInterval(tick, 500);
    const me = await (await fetch("/api/me", { credentials: "same-origin" })).json();
    if (session || tried) return;  // a sign-in beat this check: its answer stands
    // signed out: the sign-in form is already shown, and what the agent typed in it while
    // this check ran (on a slow machine, the password too) is kept, not wiped
    if (me.signed_in) signedIn();
  }

  window.VCC_DESK = {
    t, api, fail, say, render, hooks, siteName, businessName,
    get call() { return call; }, get agent() { return agent; }, get meta() { return meta; }
  };
  start();
})();
