// The command-room page: polls /room/data with the room's bearer token and fills the
// page in. The token comes from the URL fragment (#token=..., never sent to the server)
// or the login form, and stays in this tab's sessionStorage. Read-only: no request
// here changes anything.
"use strict";
(function () {
  const poll = Number(document.body.dataset.pollSeconds || 5) * 1000;
  const status = document.getElementById("status");
  const login = document.getElementById("login");
  const TIER = { grid: "网格", community: "社区", street: "街道", district: "区", city: "市", none: "—" };

  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("gridflow-room-token", fromHash);
    history.replaceState(null, "", location.pathname);
  }
  login.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("gridflow-room-token", document.getElementById("token").value);
    login.hidden = true;
    refresh();
  });

  function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1) + "%"; }
  function text(el, value) { el.textContent = value === null || value === undefined ? "—" : String(value); }
  function time(iso) { return iso ? iso.slice(5, 16).replace("T", " ") : "—"; }
  function rows(tbody, items, cells) {
    tbody.replaceChildren(...items.map((item) => {
      const tr = document.createElement("tr");
      for (const [value, cls] of cells(item)) {
        const td = document.createElement("td");
        text(td, value);
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  function show(data) {
    text(document.getElementById("total-open"), data.totals.open);
    text(document.getElementById("total-overdue"), data.totals.overdue);
    text(document.getElementById("total-queue"), data.queue.length);
    for (const period of ["today", "month"]) {
      const tr = document.querySelector(`#rates tr[data-period="${period}"]`);
      for (const td of tr.querySelectorAll("td[data-rate]")) {
        td.textContent = pct(data.rates[period][td.dataset.rate]);
        td.title = `received ${data.rates[period].received}, closed ${data.rates[period].closed}, due ${data.rates[period].due}, rated ${data.rates[period].rated}`;
      }
    }
    for (const tr of document.querySelectorAll("#by-tier tr[data-tier]")) {
      const counts = data.by_tier[tr.dataset.tier] || { open: 0, overdue: 0 };
      text(tr.querySelector(".open"), counts.open);
      text(tr.querySelector(".overdue"), counts.overdue);
    }
    rows(document.querySelector("#by-unit tbody"), data.by_unit, (u) => [
      [u.name], [TIER[u.tier] || u.tier], [u.open, "num"], [u.overdue, "num overdue"]]);
    rows(document.querySelector("#queue tbody"), data.queue, (q) => [
      [q.case_id], [q.category], [q.grid_id], [q.last_unit], [time(q.since)]]);
    rows(document.querySelector("#escalations tbody"), data.escalations, (e) => [
      [time(e.at)], [e.case_id], [TIER[e.from_tier] || e.from_tier], [TIER[e.to_tier || "none"]], [e.to_unit]]);
    for (const path of document.querySelectorAll("#grid-map .grid")) {
      const counts = data.grids[path.dataset.grid] || { open: 0, overdue: 0 };
      path.classList.toggle("open", counts.open > 0 && counts.overdue === 0);
      path.classList.toggle("late", counts.overdue > 0);
      path.classList.toggle("many", Math.max(counts.open, counts.overdue) >= 3);
      path.dataset.open = counts.open;
      path.dataset.overdue = counts.overdue;
      path.querySelector("title").textContent =
        `${path.dataset.grid}: 在办 ${counts.open} open, 超时 ${counts.overdue} overdue`;
    }
    text(document.getElementById("generated"), "更新于 updated " + time(data.generated_at));
    status.textContent = "实时 live · " + data.viewer;
    status.classList.remove("error");
  }

  async function refresh() {
    const token = sessionStorage.getItem("gridflow-room-token");
    if (!token) {
      login.hidden = false;
      status.textContent = "需要令牌 token needed";
      return;
    }
    try {
      const response = await fetch("/room/data", { headers: { Authorization: "Bearer " + token } });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        status.textContent = `${response.status}: ${problem.detail || response.statusText}`;
        status.classList.add("error");
        if (response.status === 401) login.hidden = false;
        return;
      }
      show(await response.json());
    } catch (error) {
      status.textContent = "连接中断 connection lost: " + error;
      status.classList.add("error");
    }
  }

  refresh();
  setInterval(refresh, poll);
})();
