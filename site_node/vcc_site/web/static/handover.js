// Shift handover on the team leader's console: the site's unfinished work, the handover
// the outgoing leader writes, the successor's acknowledgement. Shown while a team leader
// is signed in (board.js says so with vcc:signed-in / vcc:signed-out, and the language
// with vcc:lang); a sign-out refused for want of a handover (vcc:handover-needed) brings
// the panel into view. Keys: Alt+H write, Alt+K acknowledge, Alt+R refresh (board.js).
"use strict";
(() => {
  const M = {
    zh: {
      title: "交接班", open_work: "未完成工作（写交接单时将列入）", h_order: "工单", h_business: "业务", h_type: "类型",
      h_department: "部门", h_state: "状态", h_due: "答复期限", h_callback: "回访", no_open: "无未完成工单。", notes: "交接备注",
      write: "写交接单", refresh: "刷新", records: "交接记录", no_handovers: "暂无交接记录。", acknowledge: "接班确认",
      keys: "快捷键：Alt+H 写交接单 · Alt+K 接班确认 · Alt+R 刷新 · Alt+O 退出", callback_due: "回访到期",
      by: "交班", at: "时间", unfinished: "未完成工单", callbacks: "到期回访", incidents: "未结事件", none: "无",
      waiting: "待接班：接班班长登录后确认，您才能退出。", taken: "已由 {who} 于 {at} 接班确认。",
      mine_waiting: "您的交接单已写好，等待接班班长登录并确认；确认前不能退出。", mine_taken: "您的交接单已由 {who} 接班确认：现在可以退出。",
      none_mine: "退出前请写交接单，并由接班班长登录后确认。", written: "交接单已写好：", acknowledged: "已接班确认：",
      e_wrong_role: "交接班仅限班长。", e_session_expired: "登录已过期，请重新登录。", e_conflict: "该交接单已被确认。",
      e_invalid: "输入有误。", e_own: "不能确认自己写的交接单：须由另一位班长接班。", e_forbidden: "您无权执行此操作。",
      e_not_found: "未找到该交接单。", e_unavailable: "与站点的连接中断。", e_network: "网络错误，请重试。",
      e_csrf: "页面已过期，请刷新后重试。", e_internal: "系统错误。", e_signed_in: "双方须已登录本站点。"
    },
    en: {
      title: "Shift handover", open_work: "Unfinished work (a handover written now lists it)", h_order: "Order", h_business: "Business", h_type: "Type",
      h_department: "Department", h_state: "State", h_due: "Answer due", h_callback: "Callback", no_open: "No unfinished orders.", notes: "Handover notes",
      write: "Write the handover", refresh: "Refresh", records: "Handovers", no_handovers: "No handovers yet.", acknowledge: "Acknowledge",
      keys: "Keys: Alt+H write the handover · Alt+K acknowledge · Alt+R refresh · Alt+O sign out", callback_due: "callback due",
      by: "From", at: "At", unfinished: "Unfinished orders", callbacks: "Callbacks due", incidents: "Open incidents", none: "none",
      waiting: "Awaiting the successor: they sign in and acknowledge it.", taken: "Acknowledged by {who} at {at}.",
      mine_waiting: "Your handover is written; your successor must sign in and acknowledge it before you may sign out.", mine_taken: "Your handover was acknowledged by {who}: you may sign out now.",
      none_mine: "Before signing out, write the handover and let your successor sign in and acknowledge it.", written: "Handover written: ", acknowledged: "Acknowledged: ",
      e_wrong_role: "Shift handover is for team leaders only.", e_session_expired: "Your sign-in expired; sign in again.", e_conflict: "That handover was already acknowledged.",
      e_invalid: "Invalid input.", e_own: "You cannot acknowledge your own handover: another team leader takes over.", e_forbidden: "You may not do that.",
      e_not_found: "No such handover.", e_unavailable: "Lost the site.", e_network: "Network error; try again.",
      e_csrf: "The page is stale; reload and try again.", e_internal: "System error.", e_signed_in: "Both leaders must be signed in at this site."
    }
  };
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("vcc-lang") === "en" ? "en" : "zh";
  let data = null;
  const t = (key, vars) => {
    let s = M[lang][key] !== undefined ? M[lang][key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", v);
    return s;
  };
  const when = (ms) => (ms ? new Date(ms).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }) : "—");
  const csrf = () => { const c = document.cookie.split("; ").find((x) => x.startsWith("vcc_csrf=")); return c ? decodeURIComponent(c.slice(9)) : ""; };

  async function call(path, body) {
    const init = body === undefined ? { credentials: "same-origin" } : {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-VCC-CSRF": csrf() }, body: JSON.stringify(body)
    };
    let r;
    try { r = await fetch(path, init); } catch (e) { throw Object.assign(new Error("network"), { code: "network", detail: "", field: "" }); }
    const got = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(got.detail || ""), { code: got.error || "internal", detail: got.detail || "", field: got.field || "" });
    return got;
  }

  function fail(err) {
    let key = "e_" + err.code;
    if (err.field === "incoming_leader" && err.code === "invalid") key = "e_own";
    else if (err.code === "conflict" && /signed in/.test(err.detail)) key = "e_signed_in";
    $("ho-error").textContent = t(key) + (err.detail ? ` (${err.detail})` : "");
    if (err.code === "wrong_role") $("ho-form").hidden = true;
  }

  const colon = () => (lang === "zh" ? "：" : ": ");
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  function line(label, items) {
    const p = document.createElement("p"); const b = document.createElement("strong");
    b.textContent = t(label) + colon(); p.append(b, document.createTextNode(items.length ? items.join(", ") : t("none")));
    return p;
  }

  function render() {
    document.querySelectorAll("[data-ho]").forEach((el) => { el.textContent = t(el.dataset.ho); });
    if (!data) return;
    $("ho-open-rows").replaceChildren(...data.open_orders.map((o) => {
      const tr = document.createElement("tr"); tr.id = "ho-o-" + o.order_id;
      tr.append(cell(o.order_id), cell(o.business_id), cell(o.order_type), cell(o.department), cell(o.state),
        cell(when(o.answer_due_ms)), cell(o.callback_due ? `${t("callback_due")} ${when(o.callback_due_ms)}` : ""));
      if (o.callback_due) tr.className = "due";
      return tr;
    }));
    $("ho-open-none").hidden = data.open_orders.length > 0;
    $("ho-open").hidden = data.open_orders.length === 0;
    let firstAck = true;
    $("ho-list").replaceChildren(...data.handovers.map((h) => {
      const art = document.createElement("article"); art.id = "ho-" + h.handover_id; art.className = "handover" + (h.mine ? " mine" : "");
      const head = document.createElement("h4");
      head.textContent = `${t("by")} ${h.outgoing_leader} · ${t("at")} ${when(h.created_at_ms)} · ${h.handover_id}`;
      const state = document.createElement("p"); state.className = "ho-state " + (h.acknowledged_at_ms ? "taken" : "waiting");
      state.textContent = h.acknowledged_at_ms ? t("taken", { who: h.incoming_leader, at: when(h.acknowledged_at_ms) }) : t("waiting");
      art.append(head, state, line("unfinished", h.unfinished_orders), line("callbacks", h.due_callbacks), line("incidents", h.open_incidents));
      if (h.notes) { const n = document.createElement("p"); n.className = "ho-notes"; n.textContent = t("notes") + colon() + h.notes; art.appendChild(n); }
      if (!h.mine && !h.acknowledged_at_ms) {
        const b = document.createElement("button"); b.type = "button"; b.className = "ho-ack"; b.textContent = t("acknowledge");
        if (firstAck) { b.dataset.key = "k"; b.setAttribute("aria-keyshortcuts", "Alt+K"); firstAck = false; }
        b.addEventListener("click", () => acknowledge(h.handover_id));
        art.appendChild(b);
      }
      return art;
    }));
    $("ho-none").hidden = data.handovers.length > 0;
    const mine = data.handovers.find((h) => h.mine);
    $("ho-status").textContent = !mine ? t("none_mine") : mine.acknowledged_at_ms ? t("mine_taken", { who: mine.incoming_leader }) : t("mine_waiting");
    $("ho-status").className = mine && mine.acknowledged_at_ms ? "ok" : "pending";
  }

  async function load() {
    try { data = await call("/api/board/handovers"); $("ho-error").textContent = ""; render(); } catch (err) { fail(err); }
  }

  async function acknowledge(id) {
    try {
      const h = await call("/api/board/handover/acknowledge", { handover_id: id });
      await load(); $("ho-status").textContent = t("acknowledged") + h.handover_id;
    } catch (err) { fail(err); }
  }

  $("ho-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const h = await call("/api/board/handover", { notes: $("ho-notes").value });
      $("ho-notes").value = ""; $("error").textContent = ""; await load();
      $("ho-status").textContent = t("written") + h.handover_id + " · " + t("mine_waiting");
      $("ho-" + h.handover_id).scrollIntoView({ block: "nearest" });
    } catch (err) { fail(err); }
  });
  $("ho-refresh").addEventListener("click", load);
  document.addEventListener("vcc:lang", (ev) => { lang = ev.detail; render(); });
  document.addEventListener("vcc:signed-in", () => { $("handover").hidden = false; $("ho-form").hidden = false; load(); });
  document.addEventListener("vcc:signed-out", () => { $("handover").hidden = true; data = null; $("ho-error").textContent = ""; });
  document.addEventListener("vcc:handover-needed", async () => {
    await load(); $("handover").scrollIntoView({ block: "start" }); $("ho-notes").focus();
  });
})();
