"use strict";
(function () {
  const key = "otpatch.token";
  const $ = (id) => document.getElementById(id);

  async function api(path) {
    const res = await fetch(path, { headers: { Authorization: "Bearer " + sessionStorage.getItem(key) } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.detail || res.statusText);
    return body;
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    return td;
  }

  async function load() {
    try {
      const me = await api("/api/v1/me");
      $("whoami").textContent = "Signed in as " + me.name + " (" + me.role + ")";
      const rows = await api("/api/v1/campaigns");
      const tbody = $("campaign-rows");
      tbody.replaceChildren();
      for (const c of rows) {
        const tr = document.createElement("tr");
        tr.appendChild(cell(c.name + " (" + c.id + ")"));
        tr.appendChild(cell(c.status, "state state-" + c.status));
        tr.appendChild(cell(c.detail || ""));
        tr.appendChild(cell(c.next_window_start ? c.next_window_start + " – " + c.next_window_end : "—"));
        tr.appendChild(cell(c.updated_at));
        tbody.appendChild(tr);
      }
      $("empty").hidden = rows.length > 0;
      $("signin").hidden = true;
      $("campaigns").hidden = false;
    } catch (e) {
      $("signin-error").textContent = e.message;
      $("signin").hidden = false;
      $("campaigns").hidden = true;
    }
  }

  $("signin").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(key, $("token").value.trim());
    load();
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(key);
    location.reload();
  });
  if (sessionStorage.getItem(key)) load();
  setInterval(() => { if (!$("campaigns").hidden) load(); }, 5000);
})();
