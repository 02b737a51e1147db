// The quality inspector's page (/quality) and the published schedule (/schedule): sign-in
// (or the session of the desk or the wallboard), then plain reads and CSRF-checked posts.
"use strict";
(() => {
  const M = {
    zh: {
      title_quality: "质检", title_schedule: "排班表", signin: "登录", person_id: "工号", password: "密码", signin_btn: "登录",
      signout: "退出", change_title: "首次登录：请设置新密码", new_password: "新密码", confirm_password: "确认新密码", change_btn: "设置并登录",
      reviews: "质检任务", period: "月份", state: "状态", st_all: "全部", st_sampled: "待评分", st_scored: "已评分", st_disputed: "申诉中",
      st_reviewed: "已复核", list: "查询", draw: "抽取样本", h_call: "通话", h_agent: "坐席", h_business: "业务", h_reason: "来源",
      h_state: "状态", h_score: "得分", h_dispute: "申诉理由", r_sample: "抽样", r_complaint: "投诉", comment: "评语",
      submit_score: "提交评分", cancel: "取消", do_score: "评分", do_review: "复核", score_of: "评分：", review_of: "复核：",
      recordings: "录音", day: "日期", list_rec: "查询录音", h_start: "开始", h_length: "时长", play: "播放", swept: "已清理",
      playing: "正在播放", schedule: "排班表", prev_week: "上一周", next_week: "下一周", week_of: "日期所在周", show: "显示",
      not_published: "本周排班尚未发布。", published_by: "发布人", shifts: "班次", intervals: "时段预测", h_end: "结束",
      h_break: "休息", h_hours: "小时", h_time: "时段", h_on_phone: "在线坐席", h_sl: "预测服务水平", unassigned: "（空缺）",
      no_shifts: "无班次", wd: ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
      my_quality: "我的质检成绩", average: "本月平均分：", none_yet: "暂无", dispute: "申诉", dispute_reason: "申诉理由：",
      n_signed_in: "已登录。", n_signed_out: "已退出。", n_drawn: "已抽取样本：", n_scored: "评分已保存。", n_disputed: "申诉已提交。",
      keys_qa: "快捷键：Alt+L 查询 · Alt+D 抽样 · Alt+S 提交评分 · Alt+R 查询录音 · Alt+O 退出",
      keys_sched: "快捷键：Alt+P 上一周 · Alt+N 下一周 · Alt+O 退出",
      e_wrong_login: "工号或密码错误（多次错误将被锁定）。", e_locked: "账号已锁定，请稍后再试或联系管理员。",
      e_wrong_role_quality: "此页面仅供质检员使用。", e_wrong_role_schedule: "此页面仅供班长、坐席及管理人员使用。",
      e_missing: "请输入工号和密码。", e_mismatch: "两次输入的新密码不一致。", e_change_refused: "当前密码有误或登录已过期，请重新登录。",
      e_session_expired: "登录已过期，请重新登录。", e_unavailable: "与站点的连接中断，请稍后重试。", e_network: "网络错误，请重试。",
      e_csrf: "页面已过期，请刷新后重试。", e_invalid: "输入有误。", e_internal: "系统错误。", e_not_found: "未找到。",
      e_conflict: "当前状态不允许此操作。", e_forbidden: "您无权执行此操作。"
    },
    en: {
      title_quality: "Quality inspection", title_schedule: "Schedule", signin: "Sign in", person_id: "Staff ID", password: "Password",
      signin_btn: "Sign in", signout: "Sign out", change_title: "First sign-in: choose a new password", new_password: "New password",
      confirm_password: "Confirm new password", change_btn: "Set and sign in", reviews: "Reviews", period: "Month", state: "State",
      st_all: "All", st_sampled: "To score", st_scored: "Scored", st_disputed: "Disputed", st_reviewed: "Reviewed", list: "List",
      draw: "Draw the sample", h_call: "Call", h_agent: "Agent", h_business: "Business", h_reason: "Why", h_state: "State",
      h_score: "Score", h_dispute: "Dispute", r_sample: "sample", r_complaint: "complaint", comment: "Comment",
      submit_score: "Submit the score", cancel: "Cancel", do_score: "Score", do_review: "Second review", score_of: "Score: ",
      review_of: "Second review: ", recordings: "Recordings", day: "Day", list_rec: "List recordings", h_start: "Start",
      h_length: "Length", play: "Play", swept: "swept", playing: "Playing", schedule: "Schedule", prev_week: "Previous week",
      next_week: "Next week", week_of: "Week of", show: "Show", not_published: "No schedule published for this week.",
      published_by: "Published by", shifts: "Shifts", intervals: "Predicted per interval", h_end: "End", h_break: "Break",
      h_hours: "Hours", h_time: "Interval", h_on_phone: "On the phone", h_sl: "Predicted service level", unassigned: "(open)",
      no_shifts: "No shifts", wd: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
      my_quality: "My quality scores", average: "Average this month: ", none_yet: "none yet", dispute: "Dispute",
      dispute_reason: "Why do you dispute it?", n_signed_in: "Signed in.", n_signed_out: "Signed out.", n_drawn: "Sample drawn: ",
      n_scored: "Score saved.", n_disputed: "Dispute filed.",
      keys_qa: "Keys: Alt+L list · Alt+D draw the sample · Alt+S submit the score · Alt+R list recordings · Alt+O sign out",
      keys_sched: "Keys: Alt+P previous week · Alt+N next week · Alt+O sign out",
      e_wrong_login: "Wrong staff ID or password (repeated failures lock the account).", e_locked: "The account is locked; try later or ask an administrator.",
      e_wrong_role_quality: "This page is for quality inspectors only.", e_wrong_role_schedule: "This page is for team leaders, agents and managers only.",
      e_missing: "Give your staff ID and password.", e_mismatch: "The two new passwords differ.",
      e_change_refused: "Wrong current password or the sign-in expired; sign in again.", e_session_expired: "Your sign-in expired; sign in again.",
      e_unavailable: "Lost the site; try again shortly.", e_network: "Network error; try again.", e_csrf: "The page is stale; reload and try again.",
      e_invalid: "Invalid input.", e_internal: "System error.", e_not_found: "Not found.", e_conflict: "Not allowed now.",
      e_forbidden: "You may not do that."
    }
  };
  const $ = (id) => document.getElementById(id);
  const PAGE = location.pathname.startsWith("/schedule") ? "schedule" : "quality";
  let lang = localStorage.getItem("vcc-lang") === "en" ? "en" : "zh";
  let meta = { businesses: [] };
  let me = null;         // the signed-in person
  let reviews = [];      // the listed reviews
  let scoring = null;    // the review being scored
  let week = null;       // the shown week's answer
  let mine = null;       // the agent's own reviews
  let initial = "";
  const t = (key) => (M[lang][key] !== undefined ? M[lang][key] : key);

  function csrf() {
    const hit = document.cookie.split("; ").find((c) => c.startsWith("vcc_csrf="));
    return hit ? decodeURIComponent(hit.slice(9)) : "";
  }
  async function call(path, body) {
    let r;
    try {
      r = await fetch(path, body === undefined ? { credentials: "same-origin" } : {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-VCC-CSRF": csrf() }, body: JSON.stringify(body)
      });
    } catch (e) {
      throw Object.assign(new Error("network"), { code: "network", detail: "", field: "" });
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.detail || ""), { code: data.error || "internal", detail: data.detail || "", field: data.field || "" });
    return data;
  }
  function message(err) {
    if (err.code === "wrong_role") return t("e_wrong_role_" + PAGE);
    return t("e_" + err.code) + (err.detail ? ` (${err.detail})` : "");
  }
  function say(text) { $("notice").textContent = text; $("error").textContent = ""; }
  function fail(err) {
    if (err.code === "session_expired") { signedOut(); }
    $("notice").textContent = ""; $("error").textContent = message(err);
  }
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  function button(label, onClick) {
    const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.addEventListener("click", onClick); return b;
  }
  function pct(bp) { return bp < 0 ? "—" : (bp / 100).toFixed(1) + "%"; }
  function businessName(id) { const b = meta.businesses.find((x) => x.id === id); return b ? b.name : id; }
  function formOf(id) { const b = meta.businesses.find((x) => x.id === id); return b && b.qa_form ? b.qa_form : []; }
  function secs(ms) { const s = Math.round(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; }

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("title").textContent = t("title_" + PAGE);
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.title = t("title_" + PAGE) + " · vcc";
    renderReviews(); renderScoreForm(); renderWeek(); renderMine();
  }

  // -- the inspector ------------------------------------------------------------------------
  async function listReviews() {
    try {
      const got = await call(`/api/quality/reviews?period=${encodeURIComponent($("period").value)}&state=${encodeURIComponent($("state").value)}`);
      reviews = got.reviews; $("period").value = got.period; renderReviews();
    } catch (err) { fail(err); }
  }
  function renderReviews() {
    $("review-rows").replaceChildren(...reviews.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.review = r.review_id;
      const score = r.final_score_bp >= 0 ? pct(r.final_score_bp) : "—";
      tr.append(cell(r.call_id), cell(r.agent_id), cell(businessName(r.business_id)), cell(t("r_" + r.reason)),
        cell(t("st_" + r.state)), cell(score), cell(r.dispute_reason));
      const td = document.createElement("td");
      if (r.state === "sampled") td.append(button(t("do_score"), () => openScore(r, false)));
      if (r.state === "disputed") td.append(button(t("do_review"), () => openScore(r, true)));
      tr.append(td);
      return tr;
    }));
  }
  function openScore(r, second) {
    scoring = { review: r, second };
    $("score-form").hidden = false; $("score-error").textContent = ""; $("score-comment").value = "";
    renderScoreForm();
    const first = $("score-items").querySelector("input"); if (first) first.focus();
  }
  function renderScoreForm() {
    if (!scoring) { $("score-form").hidden = true; return; }
    const r = scoring.review;
    $("score-title").textContent = t(scoring.second ? "review_of" : "score_of");
    $("score-call").textContent = `${r.call_id} · ${r.agent_id} · ${businessName(r.business_id)}`;
    const kept = {};
    $("score-items").querySelectorAll("input").forEach((i) => { kept[i.dataset.item] = i.value; });
    $("score-items").replaceChildren(...formOf(r.business_id).map((item) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      Object.assign(input, { type: "number", min: 0, max: item.max, step: 1, required: true, id: "item-" + item.id });
      input.dataset.item = item.id; input.value = kept[item.id] || "";
      const err = document.createElement("span"); err.className = "field-error"; err.id = "item-error-" + item.id; err.setAttribute("role", "alert");
      label.append(`${item.name} (0–${item.max}) `, input, err);
      return label;
    }));
  }
  async function submitScore() {
    const r = scoring.review;
    const points = {};
    $("score-items").querySelectorAll("input").forEach((i) => { points[i.dataset.item] = i.value === "" ? null : Number(i.value); });
    $("score-items").querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
    $("score-items").querySelectorAll("input").forEach((i) => i.removeAttribute("aria-invalid"));
    try {
      await call("/api/quality/score", { review_id: r.review_id, business_id: r.business_id, points, comment: $("score-comment").value, second: scoring.second });
      scoring = null; renderScoreForm(); say(t("n_scored")); await listReviews();
    } catch (err) {
      const item = err.field.startsWith("points.") ? err.field.slice(7) : "";
      if (item && $("item-error-" + item)) {
        $("item-error-" + item).textContent = err.detail; $("item-" + item).setAttribute("aria-invalid", "true"); $("item-" + item).focus();
      }
      $("score-error").textContent = message(err);
      if (err.code === "session_expired") fail(err);
    }
  }
  async function drawSample() {
    try {
      const got = await call("/api/quality/sample", { period: $("period").value });
      say(t("n_drawn") + got.reviews.length); $("period").value = got.period; await listReviews();
    } catch (err) { fail(err); }
  }
  async function listRecordings() {
    const q = new URLSearchParams({ agent_id: $("rec-agent").value, business_id: $("rec-business").value, day: $("rec-day").value });
    try {
      const got = await call("/api/quality/recordings?" + q);
      $("rec-rows").replaceChildren(...got.recordings.map((x) => {
        const tr = document.createElement("tr");
        tr.dataset.recording = x.recording_id;
        tr.append(cell(x.call_id), cell(x.agents.join(", ")), cell(businessName(x.business_id)), cell(x.day), cell(x.start), cell(secs(x.duration_ms)));
        const td = document.createElement("td");
        td.append(x.swept ? t("swept") : button(t("play"), () => play(x)));
        tr.append(td);
        return tr;
      }));
    } catch (err) { fail(err); }
  }
  function play(x) {
    const player = $("player");
    player.src = `/api/quality/recordings/${encodeURIComponent(x.recording_id)}/audio`;
    $("playing").textContent = `${t("playing")} ${x.call_id}`;
    player.play().catch(() => {});  // a refused play shows as the player's own error state
    player.focus();
  }

  // -- the schedule and the agent's own scores ------------------------------------------------
  async function showWeek(day) {
    try {
      week = await call("/api/schedule?week=" + encodeURIComponent(day || ""));
      $("week").value = week.week; renderWeek();
    } catch (err) { fail(err); }
  }
  function table(heads, rows) {
    const tb = document.createElement("table");
    const tr = document.createElement("tr");
    tr.append(...heads.map((h) => { const th = document.createElement("th"); th.textContent = t(h); return th; }));
    const thead = document.createElement("thead"); thead.append(tr);
    const body = document.createElement("tbody");
    body.append(...rows.map((cells) => { const r = document.createElement("tr"); r.append(...cells.map(cell)); return r; }));
    tb.append(thead, body);
    return tb;
  }
  function renderWeek() {
    if (!week) return;
    $("week-label").textContent = week.week;
    $("published").textContent = week.published ? `${t("published_by")}: ${week.published_by}` : t("not_published");
    $("days").replaceChildren(...week.days.map((d) => {
      const box = document.createElement("section");
      box.className = "day"; box.dataset.date = d.date;
      const h = document.createElement("h3"); h.textContent = `${t("wd")[d.weekday]} ${d.date}`;
      box.append(h);
      if (!d.shifts.length) { const p = document.createElement("p"); p.textContent = t("no_shifts"); box.append(p); }
      else box.append(table(["h_agent", "h_start", "h_end", "h_break", "h_hours"],
        d.shifts.map((s) => [s.agent_id || t("unassigned"), s.start, s.end, s.break || "—", String(s.hours)])));
      if (d.intervals.length) {
        const det = document.createElement("details");
        const sum = document.createElement("summary"); sum.textContent = t("intervals");
        det.append(sum, table(["h_time", "h_on_phone", "h_sl"], d.intervals.map((i) => [`${i.start}–${i.end}`, String(i.on_phone), pct(i.sl_bp)])));
        box.append(det);
      }
      return box;
    }));
  }
  async function showMine() {
    try { mine = await call("/api/my-quality"); renderMine(); } catch (err) { fail(err); }
  }
  function renderMine() {
    if (!mine) return;
    $("mine-period").textContent = mine.period;
    $("mine-average").textContent = t("average") + (mine.average_bp >= 0 ? pct(mine.average_bp) : t("none_yet"));
    $("mine-rows").replaceChildren(...mine.reviews.map((r) => {
      const tr = document.createElement("tr");
      tr.append(cell(r.call_id), cell(businessName(r.business_id)), cell(t("st_" + r.state)), cell(pct(r.final_score_bp)), cell(r.comment));
      const td = document.createElement("td");
      if (r.state === "scored") td.append(button(t("dispute"), () => dispute(r)));
      tr.append(td);
      return tr;
    }));
  }
  async function dispute(r) {
    const reason = window.prompt(t("dispute_reason"));
    if (!reason) return;
    try { await call("/api/my-quality/dispute", { review_id: r.review_id, reason }); say(t("n_disputed")); await showMine(); } catch (err) { fail(err); }
  }

  // -- signing in and out ---------------------------------------------------------------------
  function signedIn(person) {
    me = person;
    $("login").hidden = true; $("change").hidden = true;
    $("who").hidden = false; $("person-name").textContent = `${person.name || ""} (${person.person_id})`;
    $("signout").hidden = !person.own_session;
    if (PAGE === "quality") {
      $("inspector").hidden = false; listReviews();
    } else {
      $("schedule").hidden = false; showWeek("");
      if (person.role === "agent") { $("mine").hidden = false; showMine(); }
    }
  }
  function signedOut() {
    me = null;
    ["inspector", "schedule", "mine", "change"].forEach((id) => { $(id).hidden = true; });
    $("who").hidden = true; $("signout").hidden = true; $("login").hidden = false;
    $("player").removeAttribute("src");
    $("person-id").focus();
  }
  function bind() {
    $("login-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      $("login-error").textContent = "";
      initial = $("password").value;
      try {
        const reply = await call("/api/staff/login?page=" + PAGE, { agent_id: $("person-id").value.trim(), password: initial });
        $("password").value = "";
        if (reply.must_change) { $("login").hidden = true; $("change").hidden = false; $("new-password").focus(); return; }
        initial = ""; say(t("n_signed_in")); signedIn({ ...reply, own_session: true });
      } catch (err) { $("login-error").textContent = message(err); }
    });
    $("change-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const fresh = $("new-password").value;
      if (fresh !== $("confirm-password").value) { $("change-error").textContent = t("e_mismatch"); return; }
      try {
        const reply = await call("/api/staff/change-password", { old_password: initial, new_password: fresh });
        initial = ""; say(t("n_signed_in")); signedIn({ ...reply, own_session: true });
      } catch (err) { $("change-error").textContent = message(err); }
    });
    $("review-filter").addEventListener("submit", (e) => { e.preventDefault(); listReviews(); });
    $("sample-btn").addEventListener("click", drawSample);
    $("score-form").addEventListener("submit", (e) => { e.preventDefault(); submitScore(); });
    $("score-cancel").addEventListener("click", () => { scoring = null; renderScoreForm(); });
    $("rec-filter").addEventListener("submit", (e) => { e.preventDefault(); listRecordings(); });
    $("week-form").addEventListener("submit", (e) => { e.preventDefault(); showWeek($("week").value); });
    $("prev-week").addEventListener("click", () => week && showWeek(week.prev));
    $("next-week").addEventListener("click", () => week && showWeek(week.next));
    $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("vcc-lang", lang); applyLang(); });
    $("signout").addEventListener("click", async () => {
      try { await call("/api/staff/logout", {}); } catch (err) { /* the session is over either way */ }
      signedOut(); say(t("n_signed_out"));
    });
    document.addEventListener("keydown", (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const el = document.querySelector(`button[data-key="${e.key.toLowerCase()}"]`);
      if (!el || el.disabled || el.closest("[hidden]")) return;
      e.preventDefault(); el.focus(); el.click();
    });
  }
  async function start() {
    bind();
    meta = await (await fetch("/api/meta", { credentials: "same-origin" })).json();
    $("site-name").textContent = `· ${meta.site_name} (${meta.site_id})`;
    meta.businesses.filter((b) => b.qa_form && b.qa_form.length).forEach((b) => {
      const o = document.createElement("option"); o.value = b.id; o.textContent = b.name; $("rec-business").append(o);
    });
    applyLang();
    const who = await (await fetch("/api/staff/me", { credentials: "same-origin" })).json();
    const allowed = PAGE === "quality" ? ["quality_inspector"] : ["agent", "team_leader", "site_admin", "operations"];
    if (who.signed_in && allowed.includes(who.role)) signedIn(who);
    else {
      if (who.signed_in) $("error").textContent = t("e_wrong_role_" + PAGE);
      signedOut();
    }
  }
  start();
})();
