// The province console: sign-in (province managers and operations), the province board
// (one EventSource on /api/board/events: a board each time the hub's changes), reports
// with a bar chart and CSV export, settlement (closing asks for the period again), the
// directory (entries, a change with the failing field marked, history and diffs) and
// the province's work orders, the drill reports (verdicts and each objective measured).
// Chinese by default; the English switch is remembered.
"use strict";
(() => {
  const M = {
    zh: {
      title: "省级控制台", signin: "省级管理人员登录", person_id: "工号", password: "密码", signin_btn: "登录", signout: "退出",
      change_title: "首次登录：请设置新密码", new_password: "新密码", confirm_password: "确认新密码", change_btn: "设置并登录",
      t_board: "全省看板", t_reports: "报表", t_settlement: "结算", t_directory: "目录", t_orders: "工单", t_drills: "演练",
      board: "全省看板", h_site: "站点", h_status: "状态", h_business: "业务", h_waiting: "排队", h_longest: "最长等待",
      h_ewt: "预计等待", h_agents: "坐席（空闲/通话/整理）", h_age: "数据年龄", stale: "失联", fresh: "正常", no_report: "无上报",
      reports: "报表", view: "视图", v_province: "全省", v_site: "站点", v_agent: "坐席", v_interval: "时段", day: "日期", site: "站点",
      all_sites: "全部", show: "查询", csv: "导出 CSV", settlement: "结算", period: "结算期", h_receivable: "应收（元）",
      h_payable: "应付（元）", h_net: "净额（元）", h_access: "接入费（元）", close_warn: "关账后不可更改。请再次输入结算期以确认：",
      close_btn: "关账", h_payer: "付费站点（来电归属）", h_serving: "服务站点", h_fee: "跨站服务费（元）", closed: "已关账", open: "未关账（临时）", calls: "话单数", directory: "目录", kind: "类别", new_entry: "新增",
      history: "版本历史", h_fields: "内容", save: "保存", cancel: "取消", edit: "编辑", h_version: "版本", h_time: "时间",
      h_actor: "操作人", h_changes: "变更", diff: "差异", version: "版本", orders: "全省工单", open_only: "仅未关闭", overdue_only: "仅超时",
      h_order: "工单", h_type: "类型", h_department: "部门", h_state: "状态", h_created: "创建", h_due: "答复期限",
      drills: "演练报告", live_on: "实时", live_off: "已断开", as_of: "数据时间", seconds: "秒", none: "无数据",
      n_signed_in: "已登录，看板实时推送中。", n_signed_out: "已退出。", n_saved: "已保存为版本 ", n_closed: "结算期已关账：",
      chart_of: "接通量", e_wrong_login: "工号或密码错误（多次错误将被锁定）。本控制台仅供省级管理人员和运维；坐席和班长请使用所在站点的页面。", e_locked: "账号已锁定，请稍后再试或联系运维。",
      e_wrong_role: "此控制台仅供省级管理人员和运维使用；坐席和班长请使用所在站点的页面。", e_missing: "请输入工号和密码。",
      e_mismatch: "两次输入的新密码不一致。", e_change_refused: "当前密码有误或登录已过期，请重新登录。",
      e_session_expired: "登录已过期，请重新登录。", e_forbidden: "您的角色无权执行此操作。", e_unavailable: "与省中心的连接中断。",
      e_network: "网络错误，请重试。", e_csrf: "页面已过期，请刷新后重试。", e_invalid: "输入有误。", e_confirm: "确认的结算期不一致。",
      e_conflict: "数据已被他人修改，请刷新后重试。", e_compacted: "早期历史已压缩。", e_not_found: "未找到。", e_internal: "系统错误。",
      refresh: "刷新", drills_how: "报告为 vcc drill --json 写入本中心演练报告目录的文件。", h_report: "报告", h_verdict: "结论", h_score: "通过数",
      h_finished: "完成时间", h_scenarios: "场景", pass: "通过", fail: "未通过", unreadable: "无法读取", no_drills: "暂无演练报告。",
      no_drill_dir: "本中心未配置演练报告目录（VCC_CONSOLE_DRILL_REPORTS），无报告可看。", h_objective: "指标", h_target: "目标",
      h_measured: "实测", h_result: "结果", figures: "实测数据", h_figure: "数据项", h_value: "数值", sl: "服务水平（故障前/中/后）",
      h_window: "时段", h_offered: "来话", h_sl_pct: "服务水平 %", failed_on: "未达标："
    },
    en: {
      title: "Province console", signin: "Province staff sign-in", person_id: "Staff ID", password: "Password", signin_btn: "Sign in", signout: "Sign out",
      change_title: "First sign-in: choose a new password", new_password: "New password", confirm_password: "Confirm new password", change_btn: "Set and sign in",
      t_board: "Province board", t_reports: "Reports", t_settlement: "Settlement", t_directory: "Directory", t_orders: "Work orders", t_drills: "Drills",
      board: "Province board", h_site: "Site", h_status: "Status", h_business: "Business", h_waiting: "Waiting", h_longest: "Longest wait",
      h_ewt: "Expected wait", h_agents: "Agents (ready/busy/wrap-up)", h_age: "Report age", stale: "stale", fresh: "live", no_report: "no report",
      reports: "Reports", view: "View", v_province: "Province", v_site: "Site", v_agent: "Agent", v_interval: "Interval", day: "Day", site: "Site",
      all_sites: "All", show: "Show", csv: "Export CSV", settlement: "Settlement", period: "Period", h_receivable: "Receivable (yuan)",
      h_payable: "Payable (yuan)", h_net: "Net (yuan)", h_access: "Access (yuan)", close_warn: "Closing is final. Type the period again to confirm:",
      close_btn: "Close period", h_payer: "Payer (callers' home)", h_serving: "Serving site", h_fee: "Handling fee (yuan)", closed: "closed", open: "open (provisional)", calls: "CDRs", directory: "Directory", kind: "Kind", new_entry: "New",
      history: "Version history", h_fields: "Fields", save: "Save", cancel: "Cancel", edit: "Edit", h_version: "Version", h_time: "Time",
      h_actor: "By", h_changes: "Changes", diff: "Difference", version: "Version", orders: "Province work orders", open_only: "Open only", overdue_only: "Overdue only",
      h_order: "Order", h_type: "Type", h_department: "Department", h_state: "State", h_created: "Created", h_due: "Answer due",
      drills: "Drill reports", live_on: "live", live_off: "disconnected", as_of: "As of", seconds: "s", none: "no data",
      n_signed_in: "Signed in; the board updates live.", n_signed_out: "Signed out.", n_saved: "Saved as version ", n_closed: "Period closed: ",
      chart_of: "Answered", e_wrong_login: "Wrong staff ID or password (repeated failures lock the account). This console is for province managers and operations only; agents and team leaders use their site's pages.", e_locked: "The account is locked; try later or ask operations.",
      e_wrong_role: "This console is for province managers and operations only; agents and team leaders use their site's pages.", e_missing: "Give your staff ID and password.",
      e_mismatch: "The two new passwords differ.", e_change_refused: "Wrong current password or the sign-in expired; sign in again.",
      e_session_expired: "Your sign-in expired; sign in again.", e_forbidden: "Your role may not do this.", e_unavailable: "Lost the hub.",
      e_network: "Network error; try again.", e_csrf: "The page is stale; reload and try again.", e_invalid: "Invalid input.", e_confirm: "The confirmation does not match the period.",
      e_conflict: "Someone changed it meanwhile; reload and try again.", e_compacted: "The early history was compacted.", e_not_found: "Not found.", e_internal: "System error.",
      refresh: "Refresh", drills_how: "The reports are the files vcc drill --json wrote to this hub's drill reports folder.", h_report: "Report", h_verdict: "Verdict", h_score: "Passed",
      h_finished: "Finished", h_scenarios: "Scenarios", pass: "PASS", fail: "FAIL", unreadable: "unreadable", no_drills: "No drill reports yet.",
      no_drill_dir: "This hub has no drill reports folder (VCC_CONSOLE_DRILL_REPORTS): no reports to show.", h_objective: "Objective", h_target: "Target",
      h_measured: "Measured", h_result: "Result", figures: "Measured figures", h_figure: "Figure", h_value: "Value", sl: "Service level (before/during/after the fault)",
      h_window: "Window", h_offered: "Calls offered", h_sl_pct: "Service level %", failed_on: "Failed: "
    }
  };
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("vcc-lang") === "en" ? "en" : "zh";
  let meta = { sites: [], kinds: [] };
  let me = null, es = null, board = null, report = null, initial = "";
  let tried = false;  // the sign-in form was sent (maybe before the start-up check ended)
  let dirVersion = 0, entries = [], editing = null;
  const t = (key) => (M[lang][key] !== undefined ? M[lang][key] : key);
  const csrf = () => { const c = document.cookie.split("; ").find((x) => x.startsWith("vcc_csrf=")); return c ? decodeURIComponent(c.slice(9)) : ""; };
  const yuan = (fen) => (fen / 100).toFixed(2);
  const when = (ms) => (ms ? new Date(ms).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }) : "");

  async function call(path, body) {
    const init = body === undefined ? { credentials: "same-origin" } : {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-VCC-CSRF": csrf() }, body: JSON.stringify(body)
    };
    let r;
    try { r = await fetch(path, init); } catch (e) { throw Object.assign(new Error("network"), { code: "network", detail: "", field: "" }); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = Object.assign(new Error(data.detail || ""), { code: data.error || "internal", detail: data.detail || "", field: data.field || "" });
      if (err.code === "session_expired" && me) expired();
      throw err;
    }
    return data;
  }
  const say = (text) => { $("notice").textContent = text; $("error").textContent = ""; };
  const fail = (err, where) => { (where || $("error")).textContent = t("e_" + err.code) + (err.detail ? " (" + err.detail + ")" : ""); };

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.title = t("title") + " · vcc";
    renderBoard(); renderReport(); renderDrills(); renderDrill();
  }

  function show(state) {
    $("login").hidden = state !== "login"; $("change").hidden = state !== "change";
    $("console").hidden = state !== "console"; $("who").hidden = $("signout").hidden = state !== "console";
  }

  function expired() {
    me = null; if (es) { es.close(); es = null; }
    show("login"); $("login-error").textContent = t("e_session_expired"); $("person-id").focus();
  }

  // -- sign-in -------------------------------------------------------------------------
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("login-error").textContent = ""; tried = true;
    try {
      const r = await call("/api/login", { person_id: $("person-id").value.trim(), password: $("password").value });
      if (r.must_change) { initial = $("password").value; show("change"); $("new-password").focus(); return; }
      signedIn(r);
    } catch (err) { fail(err, $("login-error")); }
    $("password").value = "";
  });
  $("change-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("change-error").textContent = "";
    if ($("new-password").value !== $("confirm-password").value) { $("change-error").textContent = t("e_mismatch"); return; }
    try {
      signedIn(await call("/api/change-password", { old_password: initial, new_password: $("new-password").value }));
      initial = "";
    } catch (err) { fail(err, $("change-error")); }
  });
  $("signout").addEventListener("click", async () => {
    try { await call("/api/logout", {}); } catch (err) { /* ended already */ }
    me = null; if (es) { es.close(); es = null; } show("login"); say(t("n_signed_out"));
  });
  $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("vcc-lang", lang); applyLang(); });

  function signedIn(person) {
    me = person; $("person-name").textContent = person.name + " (" + person.person_id + ")";
    show("console"); say(t("n_signed_in")); tab("board"); listen();
  }

  // -- tabs ----------------------------------------------------------------------------
  const TABS = ["board", "reports", "settlement", "directory", "orders", "drills"];
  function tab(name) {
    TABS.forEach((n) => { $(n).hidden = n !== name; $("tab-" + n).setAttribute("aria-selected", String(n === name)); });
    if (name === "drills") loadDrills();
  }
  TABS.forEach((n) => $("tab-" + n).addEventListener("click", () => tab(n)));

  // -- the board (server push) -----------------------------------------------------------
  function listen() {
    if (es) es.close();
    es = new EventSource("/api/board/events");
    es.onopen = () => { $("live").textContent = t("live_on"); $("live").className = "live on"; };
    es.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (ev.type === "closed") { es.close(); es = null; if (ev.code === "session_expired") expired(); else fail({ code: ev.code || "unavailable", detail: "" }); return; }
      board = ev; renderBoard();
    };
    es.onerror = () => { $("live").textContent = t("live_off"); $("live").className = "live off"; };
  }
  function cells(tr, values) { values.forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }); return tr; }
  function renderBoard() {
    if (!board) return;
    const body = $("board-rows"); body.textContent = "";
    for (const s of board.sites) {
      const flag = s.stale ? (s.rows.length ? t("stale") : t("no_report")) : t("fresh");
      const rows = s.rows.length ? s.rows : [null];
      rows.forEach((r, i) => {
        const tr = document.createElement("tr"); tr.id = i === 0 ? "site-" + s.site_id : ""; tr.className = s.stale ? "stale" : "";
        cells(tr, [i === 0 ? s.name + " " + s.site_id : "", i === 0 ? flag : "", r ? r.business_id : "", r ? r.waiting : "",
          r ? Math.round(r.longest_wait_ms / 1000) + t("seconds") : "", r ? Math.round(r.ewt_ms / 1000) + t("seconds") : "",
          r ? r.agents_ready + "/" + r.agents_busy + "/" + r.agents_wrap_up : "", r ? (r.age_ms / 1000).toFixed(1) + t("seconds") : ""]);
        if (i === 0) tr.children[1].className = s.stale ? "stale-flag status" : "fresh-flag status";
        body.appendChild(tr);
      });
    }
    $("board-as-of").textContent = t("as_of") + " " + when(board.as_of_ms);
  }

  // -- reports ---------------------------------------------------------------------------
  function reportQuery() {
    const q = new URLSearchParams({ view: $("report-view").value, day: $("report-day").value });
    if ($("report-site").value) q.set("site", $("report-site").value);
    return q.toString();
  }
  function syncCsv() { $("report-csv").href = "/api/report.csv?" + reportQuery(); }
  ["report-view", "report-day", "report-site"].forEach((id) => $(id).addEventListener("change", syncCsv));
  $("report-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); syncCsv();
    try { report = await call("/api/report?" + reportQuery()); renderReport(); } catch (err) { fail(err); }
  });
  function renderReport() {
    if (!report) return;
    $("report-title").textContent = report.title;
    const head = $("report-head"); head.textContent = "";
    head.appendChild(cells(document.createElement("tr"), report.columns));
    [...head.querySelectorAll("td")].forEach((td) => { const th = document.createElement("th"); th.textContent = td.textContent; td.replaceWith(th); });
    const body = $("report-rows"); body.textContent = "";
    for (const row of report.rows) body.appendChild(cells(document.createElement("tr"), report.columns.map((c) => (row[c] === null || row[c] === undefined ? "-" : String(row[c])))));
    const metric = report.columns.includes("answered") ? "answered" : report.columns.includes("calls") ? "calls" : null;
    const chart = $("report-chart"); chart.textContent = "";
    if (!metric) return;
    const label = report.columns.find((c) => c === "interval" || c === "agent" || c === "business") || "site";
    const max = Math.max(1, ...report.rows.map((r) => Number(r[metric]) || 0));
    for (const r of report.rows) {
      const name = document.createElement("span"); name.textContent = [r.site, r[label] !== r.site ? r[label] : ""].filter(Boolean).join(" ");
      const track = document.createElement("span"); track.className = "bar-track";
      const fill = document.createElement("span"); fill.className = "bar-fill"; fill.style.display = "block";
      fill.style.width = (100 * (Number(r[metric]) || 0) / max) + "%"; track.appendChild(fill);
      const n = document.createElement("span"); n.textContent = t("chart_of") + " " + (r[metric] || 0);
      chart.append(name, track, n);
    }
  }

  // -- settlement ------------------------------------------------------------------------
  function renderStatement(st) {
    $("statement-summary").textContent = st.period_id + " · " + (st.closed ? t("closed") + " " + when(st.closed_at_ms) : t("open")) +
      " · " + t("calls") + " " + st.calls + " · " + t("h_access") + " " + yuan(st.total_access_fen);
    const body = $("positions"); body.textContent = "";
    for (const p of st.positions) body.appendChild(cells(document.createElement("tr"), [p.site_id, yuan(p.receivable_fen), yuan(p.payable_fen), yuan(p.net_fen), yuan(p.access_fen)]));
    const entries = $("entries"); entries.textContent = "";
    for (const e of st.entries) entries.appendChild(cells(document.createElement("tr"), [e.payer, e.serving, e.calls, yuan(e.fee_fen)]));
    $("close-form").hidden = st.closed || !me || me.role !== "province_manager";
  }
  $("statement-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { renderStatement(await call("/api/statement?period=" + encodeURIComponent($("period").value))); } catch (err) { fail(err); }
  });
  $("close-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const st = await call("/api/statement/close", { period: $("period").value, confirm: $("close-confirm").value });
      renderStatement(st); say(t("n_closed") + st.period_id);
    } catch (err) { fail(err); }
  });

  // -- the directory ---------------------------------------------------------------------
  async function loadDirectory() {
    const r = await call("/api/directory?kind=" + $("dir-kind").value);
    dirVersion = r.version; entries = r.entities;
    $("dir-version").textContent = t("version") + " " + r.version;
    const body = $("dir-rows"); body.textContent = "";
    entries.forEach((e, n) => {
      const tr = cells(document.createElement("tr"), [e.id, JSON.stringify(e.entity).slice(0, 160)]);
      const td = document.createElement("td"); const b = document.createElement("button");
      b.type = "button"; b.className = "linkish"; b.textContent = t("edit"); b.id = "edit-" + n; b.addEventListener("click", () => edit(e));
      td.appendChild(b); tr.appendChild(td); body.appendChild(tr);
    });
  }
  $("dir-form").addEventListener("submit", async (ev) => { ev.preventDefault(); try { await loadDirectory(); } catch (err) { fail(err); } });
  function edit(entry) {
    editing = entry || { id: "", entity: {} };
    const sample = entry ? entry.entity : (entries[0] ? entries[0].entity : {});
    $("entry-h").textContent = (entry ? t("edit") + " " + entry.id : t("new_entry")) + " · " + $("dir-kind").value;
    const box = $("entry-fields"); box.textContent = "";
    for (const key of Object.keys(sample)) {
      const label = document.createElement("label"); const name = document.createElement("span"); name.textContent = key;
      const input = document.createElement("input"); input.name = key; input.id = "f-" + key;
      const v = entry ? entry.entity[key] : undefined;
      input.value = v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
      input.dataset.json = typeof sample[key] === "string" ? "" : "1";
      const err = document.createElement("span"); err.className = "field-error"; err.id = "err-" + key;
      label.append(name, input, err); box.appendChild(label);
    }
    $("entry-form").hidden = false; const first = box.querySelector("input"); if (first) first.focus();
  }
  $("dir-new").addEventListener("click", () => edit(null));
  $("entry-cancel").addEventListener("click", () => { $("entry-form").hidden = true; });
  $("entry-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const entity = {};
    document.querySelectorAll("#entry-fields input").forEach((i) => {
      i.removeAttribute("aria-invalid"); $("err-" + i.name).textContent = "";
      if (i.value === "") return;
      if (i.dataset.json) { try { entity[i.name] = JSON.parse(i.value); } catch (e) { entity[i.name] = i.value; } } else entity[i.name] = i.value;
    });
    try {
      const r = await call("/api/directory", { kind: $("dir-kind").value, id: editing.id, entity, expected_version: dirVersion, person_id: me.person_id });
      $("entry-form").hidden = true; say(t("n_saved") + r.version); await loadDirectory();
    } catch (err) { markField(err); }
  });
  function markField(err) {
    const path = (err.field || "").split(".");  // e.g. directory[3].number
    const key = (path[path.length - 1] || "").replace(/\[\d+\]$/, "");
    const input = $("f-" + key);
    if (input) { input.setAttribute("aria-invalid", "true"); $("err-" + key).textContent = err.detail; input.focus(); } else fail(err);
  }
  $("dir-history-btn").addEventListener("click", async () => {
    try {
      const r = await call("/api/directory/history");
      const body = $("history-rows"); body.textContent = "";
      for (const v of r.versions) {
        const tr = document.createElement("tr"); const td = document.createElement("td"); const b = document.createElement("button");
        b.type = "button"; b.className = "linkish"; b.textContent = v.version; b.id = "v-" + v.version; b.addEventListener("click", () => diff(v.version));
        td.appendChild(b); tr.appendChild(td);
        cells(tr, [when(v.committed_at_ms), v.actor, v.changes.map((c) => c.op + " " + c.kind + " " + c.id).join("; ")]);
        body.appendChild(tr);
      }
      $("dir-history").hidden = false;
    } catch (err) { fail(err); }
  });
  async function diff(version) {
    try {
      const r = await call("/api/directory/version/" + version);
      const box = $("diff"); box.textContent = "";
      const h = document.createElement("h4"); h.textContent = t("diff") + " · " + t("version") + " " + version; box.appendChild(h);
      for (const ch of r.diff) {
        const p = document.createElement("p"); p.textContent = ch.op + " " + ch.kind + " " + ch.id; box.appendChild(p);
        const table = document.createElement("table"); table.className = "diff";
        for (const f of ch.fields.slice(0, 200)) {
          const tr = cells(document.createElement("tr"), [f.field, f.before === null ? "" : f.before, f.after === null ? "" : f.after]);
          tr.children[1].className = "diff-before"; tr.children[2].className = "diff-after"; table.appendChild(tr);
        }
        box.appendChild(table);
      }
    } catch (err) { fail(err); }
  }

  // -- work orders -----------------------------------------------------------------------
  $("orders-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ site: $("orders-site").value, open: $("orders-open").checked ? "1" : "", overdue: $("orders-overdue").checked ? "1" : "" });
    try {
      const r = await call("/api/work-orders?" + q);
      const body = $("order-rows"); body.textContent = "";
      for (const o of r.orders) body.appendChild(cells(document.createElement("tr"), [o.order_id, o.owner_site, o.business_id, o.order_type, o.department, o.state, when(o.created_at_ms), when(o.answer_due_ms)]));
    } catch (err) { fail(err); }
  });

  // -- drill reports ---------------------------------------------------------------------
  let drills = null, drill = null;
  const verdict = (v) => { const s = document.createElement("span"); s.className = v === "PASS" ? "verdict pass" : "verdict fail"; s.textContent = v === "PASS" ? t("pass") : t("fail"); return s; };
  const text = (v) => (v === null || v === undefined ? "-" : typeof v === "object" ? JSON.stringify(v) : String(v));
  async function loadDrills() { try { drills = await call("/api/drills"); renderDrills(); } catch (err) { fail(err); } }
  $("drills-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadDrills(); });
  function renderDrills() {
    if (!drills) return;
    const none = !drills.configured ? t("no_drill_dir") : drills.reports.length ? "" : t("no_drills");
    $("drills-empty").textContent = none; $("drills-empty").hidden = !none; $("drills-table").hidden = !!none;
    const body = $("drill-rows"); body.textContent = "";
    drills.reports.forEach((r, n) => {
      const tr = document.createElement("tr"); tr.id = "drill-" + n; tr.dataset.name = r.name;
      const td = document.createElement("td"); const b = document.createElement("button");
      b.type = "button"; b.className = "linkish"; b.textContent = r.name; b.addEventListener("click", () => openDrill(r.name));
      td.appendChild(b); tr.appendChild(td);
      const v = document.createElement("td"); v.className = "verdict-cell";
      if (r.unreadable) v.textContent = t("unreadable") + ": " + r.unreadable; else v.appendChild(verdict(r.verdict));
      tr.appendChild(v);
      cells(tr, [r.score || "", when(r.finished_at_ms || r.modified_ms), (r.drills || []).map((d) => d.scenario + " " + (d.verdict === "PASS" ? t("pass") : t("fail"))).join(" · ")]);
      body.appendChild(tr);
    });
  }
  async function openDrill(name) {
    try { drill = await call("/api/drills/" + encodeURIComponent(name)); renderDrill(); $("drill-detail").focus(); } catch (err) { fail(err); }
  }
  function table(head, rows) {
    const el = document.createElement("table");
    const tr = document.createElement("tr"); head.forEach((h) => { const th = document.createElement("th"); th.textContent = t(h); tr.appendChild(th); });
    el.appendChild(tr); rows.forEach((r) => el.appendChild(r)); return el;
  }
  function renderDrill() {
    if (!drill) return;
    const box = $("drill-detail"); box.textContent = ""; box.hidden = false;
    const h = document.createElement("h3"); h.textContent = drill.name + " · " + drill.score + " · "; h.appendChild(verdict(drill.verdict)); box.appendChild(h);
    for (const d of drill.drills) {
      const sec = document.createElement("article"); sec.className = "drill"; sec.dataset.scenario = d.scenario;
      const h4 = document.createElement("h4"); h4.textContent = d.scenario + " "; h4.appendChild(verdict(d.verdict)); sec.appendChild(h4);
      if (d.failed.length) { const p = document.createElement("p"); p.className = "fail"; p.textContent = t("failed_on") + d.failed.join(", "); sec.appendChild(p); }
      sec.appendChild(table(["h_objective", "h_target", "h_measured", "h_result"], d.objectives.map((o) => {
        const tr = cells(document.createElement("tr"), [o.objective, text(o.target), text(o.measured)]);
        const td = document.createElement("td"); td.appendChild(verdict(o.pass ? "PASS" : "FAIL")); tr.appendChild(td);
        tr.className = o.pass ? "" : "failed"; return tr;
      })));
      const figures = Object.entries(d.measured || {});
      if (figures.length) {
        const cap = document.createElement("h5"); cap.textContent = t("figures"); sec.appendChild(cap);
        sec.appendChild(table(["h_figure", "h_value"], figures.map(([k, v]) => cells(document.createElement("tr"), [k, text(v)]))));
      }
      const windows = Object.entries(d.service_level || {});
      if (windows.length) {
        const cap = document.createElement("h5"); cap.textContent = t("sl"); sec.appendChild(cap);
        sec.appendChild(table(["h_window", "h_offered", "h_sl_pct"], windows.map(([k, v]) => cells(document.createElement("tr"), [k, text(v.offered), text(v.service_level_pct)]))));
      }
      box.appendChild(sec);
    }
  }

  // -- start -----------------------------------------------------------------------------
  async function start() {
    meta = await call("/api/meta");
    for (const id of ["report-site", "orders-site"]) for (const s of meta.sites) { const o = document.createElement("option"); o.value = s.id; o.textContent = s.name + " " + s.id; $(id).appendChild(o); }
    for (const k of meta.kinds) { if (k === "document") continue; const o = document.createElement("option"); o.value = k; o.textContent = k; $("dir-kind").appendChild(o); }
    $("dir-kind").value = "directory_entry";
    const now = new Date(Date.now() + 8 * 3600e3);  // the province's day (Beijing time)
    $("report-day").value = now.toISOString().slice(0, 10); $("period").value = now.toISOString().slice(0, 7);
    syncCsv(); applyLang();
    const who = await call("/api/me");
    if (tried) return;  // a sign-in beat this check: its answer stands (not hidden again)
    if (who.signed_in) { signedIn(who); return; }
    if (who.expired) $("login-error").textContent = t("e_session_expired");
    // the form is already shown; what is being typed in it keeps its focus
    if (!$("login").contains(document.activeElement)) $("person-id").focus();
  }
  start().catch((err) => fail(err));
})();
