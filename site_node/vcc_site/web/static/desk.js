// The agent desktop: sign-in, states, the screen pop and the call's actions.
// Server push: one EventSource on /api/events (the agent's desk events); every action is
// a JSON POST carrying the CSRF value (cookie vcc_csrf repeated in X-VCC-CSRF).
"use strict";
(() => {
  const M = {
    zh: {
      change_title: "首次登录：请设置新密码", new_password: "新密码", confirm_password: "确认新密码",
      change_btn: "设置并登录", e_mismatch: "两次输入的新密码不一致。",
      e_change_refused: "当前密码有误或登录已过期，请重新登录。",
      title: "坐席工作台", signin: "坐席登录", agent_id: "工号", password: "密码", signin_btn: "登录",
      signout: "退出", desk: "工作台", ready: "示闲", not_ready: "示忙", reason: "示忙原因",
      r_away: "暂离", r_break: "休息", r_training: "培训", r_other: "其他", r_ring_no_answer: "振铃未接",
      r_unspecified: "",
      s_logged_out: "未登录", s_ready: "空闲", s_not_ready: "示忙", s_ringing: "振铃", s_busy: "通话中",
      s_wrap_up: "话后处理", incoming: "来电", customer: "客户", tier: "客户等级", home: "归属地",
      business: "业务", ivr: "语音导航路径", pin: "密码验证", orders: "未结工单", waited: "等待",
      call_state: "通话状态", notes: "转接备注", answer: "接听", hold: "保持", resume: "取回",
      hangup: "挂断", transfer: "转接", to_site: "目标地市", to_business: "业务", to_agent: "或指定坐席工号", note: "备注",
      transfer_btn: "转接", wrapup: "话后处理", disposition: "处理结果", d_resolved: "已解决",
      d_work_order: "转工单", d_callback: "需回访", d_other: "其他", notes_field: "备注",
      wrapup_btn: "完成话后",
      keys: "快捷键：Alt+R 示闲 · Alt+N 示忙 · Alt+A 接听 · Alt+H 保持 · Alt+G 取回 · Alt+U 挂断 · Alt+T 转接 · Alt+K 创建工单 · Alt+W 完成话后 · Alt+O 退出 · Alt+L 语言",
      t_vip: "VIP 客户", t_high: "高端客户", t_middle: "中端客户", t_ordinary: "普通客户", t_blacklist: "黑名单",
      t_unspecified: "未知", unknown_caller: "非注册客户", pin_yes: "已验证", pin_no: "未验证",
      c_offered: "振铃", c_connected: "通话中", c_held: "保持中", c_consulting: "咨询中",
      c_transferring: "转接中", c_ended: "已结束", c_queued: "排队", c_ivr: "语音导航",
      seconds: "秒", hub_copy: "（省中心副本）",
      e_wrong_login: "工号或密码错误。", e_locked: "登录失败次数过多，账号已暂时锁定。",
      e_already_signed_in: "该工号已在其他设备登录，请先在那里退出。", e_missing: "请输入工号和密码。",
      e_session_expired: "会话已过期或已结束，请重新登录。", e_session_ended: "会话已结束，请重新登录。",
      e_conflict: "当前状态下不能执行此操作。", e_invalid: "输入有误。", e_not_found: "找不到对象。",
      e_unavailable: "服务暂不可用，请稍后再试。", e_csrf: "页面已过期，请刷新后重试。",
      e_internal: "出现内部错误。", e_network: "与服务器的连接中断，正在重连…",
      n_signed_in: "已登录。", n_transfer_accepted: "转接成功。", n_transfer_refused: "转接被拒绝：",
      n_transfer_timeout: "转接超时，通话仍由您处理。", n_wrapped: "话后处理完成。",
      n_signed_out: "已退出。",
      work_order: "工单", wo_create: "创建工单", n_order: "已创建工单 ",
      f_account: "账号", f_phone: "联系电话", f_question: "问题描述", f_name: "姓名", f_address: "地址",
      f_symptom: "故障现象", f_subject: "主题", f_details: "详情", f_desired_outcome: "期望结果",
      f_contact_allowed: "可否联系", f_suggestion: "建议", f_id_number: "证件号码", f_service: "业务",
      f_requested_date: "预约日期", f_notice: "通知内容",
      k_transfer: "转接来电", k_consult: "咨询", k_overflow: "溢出来电", k_reroute: "改路由来电"
    },
    en: {
      change_title: "First sign-in: choose a new password", new_password: "New password",
      confirm_password: "New password again", change_btn: "Set and sign in",
      e_mismatch: "The two new passwords differ.",
      e_change_refused: "The current password is wrong or the sign-in expired; sign in again.",
      title: "Agent desktop", signin: "Agent sign-in", agent_id: "Agent ID", password: "Password",
      signin_btn: "Sign in", signout: "Sign out", desk: "Desktop", ready: "Ready", not_ready: "Not ready",
      reason: "Reason", r_away: "Away", r_break: "Break", r_training: "Training", r_other: "Other",
      r_ring_no_answer: "Ring, no answer", r_unspecified: "",
      s_logged_out: "Signed out", s_ready: "Ready", s_not_ready: "Not ready", s_ringing: "Ringing",
      s_busy: "On a call", s_wrap_up: "Wrap-up", incoming: "Call from", customer: "Customer",
      tier: "Tier", home: "Home city", business: "Business", ivr: "IVR path", pin: "PIN",
      orders: "Open work orders", waited: "Waited", call_state: "Call", notes: "Transfer notes",
      answer: "Answer", hold: "Hold", resume: "Retrieve", hangup: "Hang up", transfer: "Transfer",
      to_site: "To city", to_business: "Business", to_agent: "or agent ID", note: "Note", transfer_btn: "Transfer",
      wrapup: "Wrap-up", disposition: "Outcome", d_resolved: "Resolved", d_work_order: "Work order",
      d_callback: "Call back", d_other: "Other", notes_field: "Notes", wrapup_btn: "Finish wrap-up",
      keys: "Keys: Alt+R ready · Alt+N not ready · Alt+A answer · Alt+H hold · Alt+G retrieve · Alt+U hang up · Alt+T transfer · Alt+K work order · Alt+W finish wrap-up · Alt+O sign out · Alt+L language",
      t_vip: "VIP", t_high: "High", t_middle: "Middle", t_ordinary: "Ordinary", t_blacklist: "Blacklist",
      t_unspecified: "Unknown", unknown_caller: "Not a customer", pin_yes: "Verified", pin_no: "Not verified",
      c_offered: "Ringing", c_connected: "Talking", c_held: "On hold", c_consulting: "Consulting",
      c_transferring: "Transferring", c_ended: "Ended", c_queued: "Queued", c_ivr: "In the IVR",
      seconds: "s", hub_copy: " (province copy)",
      e_wrong_login: "Wrong agent ID or password.", e_locked: "Too many failed sign-ins: the ID is locked for a while.",
      e_already_signed_in: "This agent is signed in on another device; sign out there first.",
      e_missing: "Give your agent ID and password.",
      e_session_expired: "Your session has expired or ended; please sign in again.",
      e_session_ended: "Your session has ended; please sign in again.",
      e_conflict: "That is not possible in the current state.", e_invalid: "Invalid input.",
      e_not_found: "Not found.", e_unavailable: "The service is unavailable; try again shortly.",
      e_csrf: "The page is out of date; reload it and try again.", e_internal: "An internal error occurred.",
      e_network: "Connection to the server lost; reconnecting…",
      n_signed_in: "Signed in.", n_transfer_accepted: "Transferred.", n_transfer_refused: "Transfer refused: ",
      n_transfer_timeout: "The transfer timed out; the call stays with you.", n_wrapped: "Wrap-up done.",
      n_signed_out: "Signed out.",
      work_order: "Work order", wo_create: "Open work order", n_order: "Work order opened: ",
      f_account: "Account", f_phone: "Phone", f_question: "Question", f_name: "Name", f_address: "Address",
      f_symptom: "Symptom", f_subject: "Subject", f_details: "Details", f_desired_outcome: "Desired outcome",
      f_contact_allowed: "May we contact you", f_suggestion: "Suggestion", f_id_number: "ID number",
      f_service: "Service", f_requested_date: "Requested date", f_notice: "Notice",
      k_transfer: "transferred", k_consult: "consultation", k_overflow: "overflowed", k_reroute: "rerouted"
    }
  };
  const IDLE = new Set(["ready", "not_ready", "logged_out"]);
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("vcc-lang") === "en" ? "en" : "zh";
  let meta = { sites: [], businesses: [], reasons: [] };
  let agent = null;   // last agent status event
  let call = null;    // { call_id, state, pop }
  let es = null;
  let wrapEnd = 0;
  let initial = "";  // the initial password, kept in memory only until it is changed
  let session = false;  // signed in on this page (a sign-in may beat the start-up check)
  let focusNext = "";  // the control to focus once it is enabled (the pop's answer key)

  const t = (key) => (M[lang][key] !== undefined ? M[lang][key] : key);

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

  function onEvent(ev) {
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
        break;
      case "closed":
        signedOut("e_session_ended");
        return;
    }
    render();
  }

  function setCallState(state) { call.state = state; }

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
    initial = "";
    $("change").hidden = true;
    $("login").hidden = true; $("desk").hidden = false; $("who").hidden = false; $("signout").hidden = false;
    listen();
    render();
    $("ready").focus();
  }

  function signedOut(messageKey) {
    session = false;
    initial = "";
    $("change").hidden = true;
    if (es) { es.close(); es = null; }
    agent = null; call = null;
    $("desk").hidden = true; $("who").hidden = true; $("signout").hidden = true; $("login").hidden = false;
    $("notice").textContent = "";
    $("error").textContent = "";
    $("login-error").textContent = messageKey ? t(messageKey) : "";
    $("password").value = "";
    $("agent-id").focus();
  }

  async function checkSession() {
    const r = await fetch("/api/me", { credentials: "same-origin" });
    const me = await r.json().catch(() => ({}));
    if (me.signed_in) signedIn(); else if (es) signedOut("e_session_expired");
  }

  async function act(fn) {
    try { await fn(); } catch (err) { fail(err); }
  }

  function bind() {
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
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
        const ev = await api(`/api/call/${action}`, { call_id: call.call_id });
        onEvent(ev);
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
    if (session) return;
    if (me.signed_in) signedIn(); else signedOut("");
  }

  start();
})();
