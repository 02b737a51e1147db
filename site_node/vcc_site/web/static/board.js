// The team leader's live wallboard: sign-in (team leaders and site administrators only),
// then one EventSource on /api/board/events (a board each time the site changes). Times
// in a state and the longest wait run on between boards from the page's own clock.
"use strict";
(() => {
  const M = {
    zh: {
      title: "班长实时监控", signin: "班长登录", person_id: "工号", password: "密码", signin_btn: "登录", signout: "退出",
      change_title: "首次登录：请设置新密码", new_password: "新密码", confirm_password: "确认新密码", change_btn: "设置并登录",
      queues: "业务队列", agents: "坐席状态", h_business: "业务", h_waiting: "排队", h_longest: "最长等待", h_ewt: "预计等待",
      h_sl: "服务水平（今日/目标）", h_abandoned: "今日放弃", h_answered: "今日接通", h_agents: "坐席（空闲/通话/整理/未就绪）",
      h_agent: "工号", h_name: "姓名", h_state: "状态", h_in_state: "持续",
      s_ready: "空闲", s_not_ready: "未就绪", s_ringing: "振铃", s_busy: "通话中", s_wrap_up: "事后整理",
      t_vip: "VIP", t_high: "高端", t_middle: "中端", t_ordinary: "普通", t_blacklist: "黑名单",
      live_on: "实时", live_off: "已断开", as_of: "数据时间", seconds: "秒", none_yet: "暂无",
      n_signed_in: "已登录，实时数据推送中。", n_signed_out: "已退出。",
      e_wrong_login: "工号或密码错误（多次错误将被锁定）。", e_locked: "账号已锁定，请稍后再试或联系管理员。",
      e_wrong_role: "此页面仅供班长（及系统管理员）使用；坐席请使用坐席工作台。", e_missing: "请输入工号和密码。",
      e_mismatch: "两次输入的新密码不一致。", e_change_refused: "当前密码有误或登录已过期，请重新登录。",
      e_session_expired: "登录已过期，请重新登录。", e_unavailable: "与站点的连接中断，正在重连……", e_network: "网络错误，请重试。",
      e_csrf: "页面已过期，请刷新后重试。", e_invalid: "输入有误。", e_internal: "系统错误。",
      alerts: "告警", no_alerts: "无告警：各项指标正常。", console: "坐席管理", sv_agent: "坐席工号", sv_reason: "原因",
      a_force_not_ready: "强制示忙", a_force_sign_out: "强制签出", a_listen: "监听", a_whisper: "耳语", a_barge_in: "强插", a_unlock: "解锁",
      sv_keys: "快捷键：Alt+N 强制示忙 · Alt+S 强制签出 · Alt+J 监听 · Alt+W 耳语 · Alt+B 强插 · Alt+U 解锁（点击坐席行可选中）",
      sv_done: "已执行", sv_recorded: "（已记录，语音功能待 SIP 接入）", e_not_found: "该坐席未在本站点登录或不存在。",
      e_conflict: "坐席当前状态不允许此操作。", e_forbidden: "您无权执行此操作。", e_need_agent: "请输入坐席工号。",
      e_handover: "交接班未完成，暂不能退出：请先写交接单，并由接班班长登录后确认接班。",
      al_sl: "服务水平低于目标", al_ringing: "振铃超时", al_wrap_up: "话后处理超时", al_busy: "通话超时"
    },
    en: {
      title: "Team leader wallboard", signin: "Team leader sign-in", person_id: "Staff ID", password: "Password", signin_btn: "Sign in", signout: "Sign out",
      change_title: "First sign-in: choose a new password", new_password: "New password", confirm_password: "Confirm new password", change_btn: "Set and sign in",
      queues: "Queues by business", agents: "Agents", h_business: "Business", h_waiting: "Waiting", h_longest: "Longest wait", h_ewt: "Expected wait",
      h_sl: "Service level (today / target)", h_abandoned: "Abandoned today", h_answered: "Answered today", h_agents: "Agents (ready/busy/wrap-up/not ready)",
      h_agent: "Agent", h_name: "Name", h_state: "State", h_in_state: "For",
      s_ready: "Ready", s_not_ready: "Not ready", s_ringing: "Ringing", s_busy: "On a call", s_wrap_up: "Wrap-up",
      t_vip: "VIP", t_high: "High", t_middle: "Middle", t_ordinary: "Ordinary", t_blacklist: "Blacklist",
      live_on: "live", live_off: "disconnected", as_of: "As of", seconds: "s", none_yet: "none yet",
      n_signed_in: "Signed in; the board updates live.", n_signed_out: "Signed out.",
      e_wrong_login: "Wrong staff ID or password (repeated failures lock the account).", e_locked: "The account is locked; try later or ask an administrator.",
      e_wrong_role: "This page is for team leaders (and site administrators) only; agents use the agent desktop.", e_missing: "Give your staff ID and password.",
      e_mismatch: "The two new passwords differ.", e_change_refused: "Wrong current password or the sign-in expired; sign in again.",
      e_session_expired: "Your sign-in expired; sign in again.", e_unavailable: "Lost the site; reconnecting…", e_network: "Network error; try again.",
      e_csrf: "The page is stale; reload and try again.", e_invalid: "Invalid input.", e_internal: "System error.",
      alerts: "Alerts", no_alerts: "No alerts: every figure is within its target.", console: "Agent actions", sv_agent: "Agent ID", sv_reason: "Reason",
      a_force_not_ready: "Force not ready", a_force_sign_out: "Force sign-out", a_listen: "Listen in", a_whisper: "Whisper", a_barge_in: "Barge in", a_unlock: "Unlock",
      sv_keys: "Keys: Alt+N force not ready · Alt+S force sign-out · Alt+J listen · Alt+W whisper · Alt+B barge in · Alt+U unlock (click an agent's row to choose it)",
      sv_done: "Done:", sv_recorded: " (recorded; the audio comes with the SIP edge)", e_not_found: "That agent is not signed in here or does not exist.",
      e_conflict: "The agent's state does not allow that now.", e_forbidden: "You may not do that.", e_need_agent: "Give the agent ID.",
      e_handover: "Shift handover not done, so you may not sign out yet: write the handover and let your successor sign in and acknowledge it.",
      al_sl: "service level below target", al_ringing: "ringing too long", al_wrap_up: "after-call work too long", al_busy: "talking too long"
    }
  };
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("vcc-lang") === "en" ? "en" : "zh";
  let meta = { businesses: [], kpi: {} };
  let board = null;     // the last board
  let received = 0;     // when it arrived (page clock), for times running on
  let es = null;
  let initial = "";     // the initial password, in memory only until it is changed
  let tried = false;    // the sign-in form was sent (maybe before the start-up check ended)
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

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.title = t("title") + " · vcc";
    render();
    document.dispatchEvent(new CustomEvent("vcc:lang", { detail: lang }));  // the handover panel
  }

  function secs(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? `${s} ${t("seconds")}` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  function businessName(id) { const b = meta.businesses.find((x) => x.id === id); return b ? b.name : id; }
  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }

  function slCell(tiers) {
    const td = document.createElement("td");
    td.className = "sl";
    td.append(...tiers.map((x) => {
      const div = document.createElement("div");
      const pct = x.sl_calls ? Math.round((100 * x.answered_within) / x.sl_calls) : null;
      div.className = pct === null ? "sl-none" : pct >= x.target_percent ? "sl-ok" : "sl-bad";
      div.dataset.tier = x.tier;
      div.textContent = `${t("t_" + x.tier)} ${pct === null ? "—" : pct + "%"} / ${x.target_percent}% ≤${x.target_within_s}${t("seconds")}`;
      return div;
    }));
    return td;
  }

  function render() {
    if (!board) return;
    const ran = Date.now() - received;
    $("queue-rows").replaceChildren(...board.businesses.map((b) => {
      const tr = document.createElement("tr");
      tr.id = "b-" + b.business_id;
      tr.append(
        cell(businessName(b.business_id)),
        cell(String(b.waiting), "waiting" + (b.waiting ? " some" : "")),
        cell(b.waiting ? secs(b.longest_wait_ms + ran) : "—", "longest"),
        cell(secs(b.ewt_ms), "ewt"),
        slCell(b.tiers),
        cell(String(b.abandoned), "abandoned"),
        cell(String(b.answered), "answered"),
        cell(`${b.agents_ready} / ${b.agents_busy} / ${b.agents_wrap_up} / ${b.agents_not_ready}`, "agents")
      );
      return tr;
    }));
    const counts = {};
    board.agents.forEach((a) => { counts[a.state] = (counts[a.state] || 0) + 1; });
    $("agent-counts").textContent = ["ready", "ringing", "busy", "wrap_up", "not_ready"].map((s) => `${t("s_" + s)} ${counts[s] || 0}`).join(" · ");
    $("agent-rows").replaceChildren(...board.agents.map((a) => {
      const tr = document.createElement("tr");
      tr.id = "a-" + a.agent_id;
      tr.dataset.agent = a.agent_id;
      if (a.agent_id === $("sv-agent").value) tr.className = "chosen";
      const over = overLimit(a, ran);
      tr.append(cell(a.agent_id), cell(a.name), cell(t("s_" + a.state), "state " + a.state), cell(secs(a.in_state_ms + ran), "in-state" + (over ? " over" : "")));
      return tr;
    }));
    renderAlerts(ran);
    const ids = board.agents.map((a) => a.agent_id).join(",");
    if ($("sv-agents").dataset.ids !== ids) {
      $("sv-agents").dataset.ids = ids;
      $("sv-agents").replaceChildren(...board.agents.map((a) => { const o = document.createElement("option"); o.value = a.agent_id; o.textContent = a.name; return o; }));
    }
    $("as-of").textContent = `${t("as_of")} ${new Date(received).toLocaleTimeString()} · ${board.day}`;
  }

  // the limit of each state (seconds) from the agents' targets: ring, talk, after-call work
  function limitOf(state) {
    const k = meta.kpi || {};
    return { ringing: k.ring_s, busy: k.talk_s, wrap_up: k.acw_s }[state];
  }
  function overLimit(a, ran) {
    const limit = limitOf(a.state);
    return limit ? a.in_state_ms + ran > limit * 1000 : false;
  }

  function renderAlerts(ran) {
    const out = [];
    board.businesses.forEach((b) => b.tiers.forEach((x) => {
      if (x.sl_calls && (100 * x.answered_within) / x.sl_calls < x.target_percent) {
        const pct = Math.round((100 * x.answered_within) / x.sl_calls);
        out.push({ id: `sl-${b.business_id}-${x.tier}`, text: `${businessName(b.business_id)} · ${t("t_" + x.tier)}: ${t("al_sl")} (${pct}% < ${x.target_percent}%)` });
      }
    }));
    board.agents.forEach((a) => {
      if (overLimit(a, ran)) out.push({ id: `st-${a.agent_id}`, text: `${a.agent_id} ${a.name}: ${t("al_" + a.state)} (${secs(a.in_state_ms + ran)} > ${limitOf(a.state)} ${t("seconds")})` });
    });
    const list = $("alerts");
    if (!out.length) { const li = document.createElement("li"); li.className = "none"; li.textContent = t("no_alerts"); list.replaceChildren(li); return; }
    list.replaceChildren(...out.map((x) => { const li = document.createElement("li"); li.dataset.alert = x.id; li.textContent = x.text; return li; }));
  }

  async function agentAction(action) {
    const agentId = $("sv-agent").value.trim();
    $("sv-result").textContent = "";
    if (!agentId) { $("error").textContent = t("e_need_agent"); $("sv-agent").focus(); return; }
    try {
      const r = await api(`/api/board/agent/${action}`, { agent_id: agentId, reason: $("sv-reason").value });
      const audio = ["listen", "whisper", "barge_in"].includes(action) ? t("sv_recorded") : "";
      $("error").textContent = "";
      $("sv-result").textContent = `${t("sv_done")} ${t("a_" + action)} · ${r.agent_id}${r.call_id ? " · " + r.call_id : ""}${audio}`;
    } catch (err) {
      if (err.code === "session_expired") { signedOut("e_session_expired"); return; }
      $("error").textContent = t("e_" + err.code) + (err.detail ? ` (${err.detail})` : "");
      if (err.field === "reason") $("sv-reason").focus();
    }
  }

  function live(on) {
    const el = $("live");
    el.className = "live " + (on ? "on" : "off");
    el.textContent = t(on ? "live_on" : "live_off");
  }

  function listen() {
    if (es) es.close();
    es = new EventSource("/api/board/events");
    es.onopen = () => live(true);
    es.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (ev.type === "board") {  // back after a lost stream: that message is over (an action's refusal stays)
        board = ev; received = Date.now();
        if ($("error").textContent === t("e_unavailable")) $("error").textContent = "";
        render(); return;
      }
      if (ev.type === "closed") {
        es.close(); es = null; live(false);
        if (ev.code === "session_expired") { signedOut("e_session_expired"); return; }
        $("error").textContent = t("e_unavailable");
        setTimeout(() => { if (!$("board").hidden) listen(); }, 2000);
      }
    };
    es.onerror = () => live(false);  // the browser reconnects by itself
  }

  function signedIn(name) {
    $("login").hidden = true; $("change").hidden = true;
    $("board").hidden = false; $("who").hidden = false; $("signout").hidden = false;
    $("person-name").textContent = name || "";
    listen();
    document.dispatchEvent(new CustomEvent("vcc:signed-in"));
  }

  function signedOut(why) {
    if (es) { es.close(); es = null; }
    board = null;
    $("board").hidden = true; $("who").hidden = true; $("signout").hidden = true; $("change").hidden = true;
    $("login").hidden = false;
    $("error").textContent = why ? t(why) : "";
    $("person-id").focus();
    document.dispatchEvent(new CustomEvent("vcc:signed-out"));
  }

  function bind() {
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      tried = true;
      $("login-error").textContent = "";
      try {
        const reply = await api("/api/board/login", { agent_id: $("person-id").value, password: $("password").value });
        if (reply.must_change) {
          initial = $("password").value;
          $("password").value = "";
          $("login").hidden = true; $("change").hidden = false;
          $("new-password").focus();
          return;
        }
        $("password").value = "";
        say(t("n_signed_in"));
        signedIn(reply.name);
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
        const reply = await api("/api/board/change-password", { old_password: initial, new_password: fresh });
        initial = ""; $("new-password").value = ""; $("confirm-password").value = "";
        say(t("n_signed_in"));
        signedIn(reply.name);
      } catch (err) {
        if (err.code === "change_refused" || err.code === "session_expired") { signedOut("e_change_refused"); return; }
        $("change-error").textContent = t("e_" + err.code) + (err.detail ? ` (${err.detail})` : "");
      }
    });
    $("lang").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      localStorage.setItem("vcc-lang", lang);
      applyLang();
    });
    document.querySelectorAll("#sv-form button[data-action]").forEach((b) => b.addEventListener("click", () => agentAction(b.dataset.action)));
    $("sv-form").addEventListener("submit", (e) => e.preventDefault());
    $("agent-rows").addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-agent]");
      if (tr) { $("sv-agent").value = tr.dataset.agent; render(); }
    });
    document.addEventListener("keydown", (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const el = document.querySelector(`button[data-key="${e.key.toLowerCase()}"]`);
      if (!el || el.disabled || el.closest("[hidden]")) return;
      e.preventDefault();
      el.focus();
      el.click();
    });
    $("signout").addEventListener("click", async () => {
      try {
        await api("/api/board/logout");
      } catch (err) {  // a leader stays until a signed-in successor acknowledged the handover
        if (err.code === "handover") {
          $("notice").textContent = "";
          $("error").textContent = t("e_handover") + (err.detail ? ` (${err.detail})` : "");
          document.dispatchEvent(new CustomEvent("vcc:handover-needed"));
          return;
        }  // any other failure: the session is over either way
      }
      signedOut("");
      say(t("n_signed_out"));
    });
  }

  async function start() {
    bind();
    meta = await (await fetch("/api/meta", { credentials: "same-origin" })).json();
    $("site-name").textContent = `· ${meta.site_name} (${meta.site_id})`;
    applyLang();
    setInterval(render, 1000);
    const me = await (await fetch("/api/board/me", { credentials: "same-origin" })).json();
    if (tried) return;  // a sign-in beat this check: its answer stands
    if (me.signed_in) signedIn(me.name);
    // signed out: the form is already shown; what is being typed in it keeps its focus
    else if (!$("login").contains(document.activeElement)) $("person-id").focus();
  }

  start();
})();
