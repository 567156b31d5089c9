// PlexSync: a "Sync to Plex" button on Stash's scene page.
//
// Clicking it queues the plugin task "Re-sync scenes" for the scene shown, then follows the
// job until it ends and reports the outcome in a small toast. Plain DOM on purpose: Stash
// offers no patch point for the scene toolbar, and no build step keeps the plugin a zip of
// source files.
(function () {
  "use strict";

  const PLUGIN_ID = "PlexSync";
  const TASK_NAME = "Re-sync scenes";
  const CONTROL_CLASS = "plexsync-sync";
  const TOAST_BOX_ID = "plexsync-toasts";
  const TOOLBAR_SELECTOR = ".scene-toolbar-group";
  // The toolbar renders once the scene has loaded; a page that never shows it must not keep
  // an observer alive forever.
  const TOOLBAR_WAIT_MS = 15000;
  // Jobs run one at a time in Stash's queue, so ours may wait behind a scan. Two minutes of
  // polling is enough for one scene; after that the job queue page is the better place to look.
  const POLL_INTERVAL_MS = 2000;
  const POLL_ATTEMPTS = 60;
  const TOAST_MS = 8000;

  // The stock StashService.mutateRunPluginTask sends `args` while its document declares
  // `$args_map`, so Stash never sees the scene id; this document is sent by hand instead.
  const RUN_TASK_MUTATION = `
mutation PlexSyncRunTask($plugin_id: ID!, $task_name: String!, $description: String, $args_map: Map) {
  runPluginTask(plugin_id: $plugin_id, task_name: $task_name, description: $description, args_map: $args_map)
}`;

  const FIND_JOB_QUERY = `
query PlexSyncFindJob($id: ID!) {
  findJob(input: { id: $id }) { id status progress error }
}`;

  /** Scene id of a path such as /scenes/42 (or /stash/scenes/42/ behind a proxy), else null. */
  function sceneIdFromPath(pathname) {
    const match = /(?:^|\/)scenes\/(\d+)\/?$/.exec(pathname || "");
    return match ? match[1] : null;
  }

  /** Runs one GraphQL document; resolves to `data`, rejects with a readable message. */
  async function graphql(query, variables) {
    // document.baseURI follows <base href>, which Stash rewrites when it is served from a
    // sub-path behind a reverse proxy; a bare "/graphql" would miss the prefix.
    const url = new URL("graphql", document.baseURI).href;
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw new Error(`cannot reach Stash (${err && err.message ? err.message : err})`);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // A proxy error page is not JSON; the HTTP status below says enough.
    }
    if (body && Array.isArray(body.errors) && body.errors.length) {
      throw new Error(body.errors.map((e) => (e && e.message) || String(e)).join("; "));
    }
    if (!response.ok) {
      throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    }
    if (!body || !body.data) {
      throw new Error("Stash returned no data");
    }
    return body.data;
  }

  function toastBox() {
    let box = document.getElementById(TOAST_BOX_ID);
    if (!box) {
      box = document.createElement("div");
      box.id = TOAST_BOX_ID;
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      box.style.cssText =
        "position:fixed;right:1rem;bottom:1rem;z-index:1100;display:flex;" +
        "flex-direction:column;gap:.5rem;max-width:24rem;";
      document.body.appendChild(box);
    }
    return box;
  }

  /**
   * Shows a message. Text only (textContent): job errors and GraphQL messages may echo
   * scene titles or server output, which must never become markup. Errors stay until
   * clicked so they are not missed; other toasts fade after a few seconds.
   */
  function toast(message, kind) {
    const el = document.createElement("div");
    el.className = `toast show plexsync-toast plexsync-toast-${kind}`;
    el.dataset.kind = kind;
    el.style.cssText =
      "padding:.5rem .75rem;border-radius:.25rem;color:#fff;cursor:pointer;" +
      `background:${kind === "error" ? "#a52834" : kind === "success" ? "#1e7e34" : "#394b59"};`;
    el.textContent = `PlexSync: ${message}`;
    el.title = "Click to close";
    el.addEventListener("click", () => el.remove());
    toastBox().appendChild(el);
    if (kind !== "error") {
      setTimeout(() => el.remove(), TOAST_MS);
    }
    return el;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Polls the job until it leaves the queue's active states; bounded by POLL_ATTEMPTS. */
  async function followJob(jobId, sceneId) {
    for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt++) {
      await sleep(POLL_INTERVAL_MS);
      let job;
      try {
        job = (await graphql(FIND_JOB_QUERY, { id: jobId })).findJob;
      } catch (err) {
        toast(`Failed: cannot follow job ${jobId}: ${err.message}`, "error");
        return;
      }
      if (!job) {
        // Stash keeps only a few finished jobs; an unknown id means it ended and was dropped.
        toast(`Job ${jobId} has ended; see Settings → Logs for its result.`, "info");
        return;
      }
      if (job.status === "FINISHED" && !job.error) {
        toast(`Synced scene ${sceneId} to Plex.`, "success");
        return;
      }
      if (job.status === "FINISHED" || job.status === "FAILED") {
        toast(`Failed: ${job.error || "the task reported an error"}`, "error");
        return;
      }
      if (job.status === "CANCELLED") {
        toast(`Job ${jobId} was cancelled.`, "error");
        return;
      }
    }
    toast(`Job ${jobId} is still running; see the job queue.`, "info");
  }

  async function syncScene(sceneId, button) {
    button.disabled = true;
    let jobId;
    try {
      const data = await graphql(RUN_TASK_MUTATION, {
        plugin_id: PLUGIN_ID,
        task_name: TASK_NAME,
        description: `Sync scene ${sceneId} to Plex`,
        args_map: { scene_id: sceneId },
      });
      jobId = data.runPluginTask;
    } catch (err) {
      toast(`Failed: ${err.message}`, "error");
      return;
    } finally {
      button.disabled = false;
    }
    toast(`Sync of scene ${sceneId} queued (job ${jobId}).`, "info");
    await followJob(jobId, sceneId);
  }

  function makeControl(sceneId) {
    const wrapper = document.createElement("span");
    wrapper.className = CONTROL_CLASS;
    wrapper.dataset.sceneId = sceneId;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-secondary minimal plexsync-sync-button";
    button.title = "Queue this scene for Plex (PlexSync: Re-sync scenes)";
    button.textContent = "Sync to Plex";
    button.addEventListener("click", () => syncScene(sceneId, button));
    wrapper.appendChild(button);
    return wrapper;
  }

  function removeControls() {
    document.querySelectorAll(`.${CONTROL_CLASS}`).forEach((el) => el.remove());
  }

  /** Resolves with the toolbar once it exists, or null after TOOLBAR_WAIT_MS or a newer page. */
  function waitForToolbar(isCurrent) {
    return new Promise((resolve) => {
      const found = () => {
        const groups = document.querySelectorAll(TOOLBAR_SELECTOR);
        return groups.length ? groups[groups.length - 1] : null;
      };
      const now = found();
      if (now) {
        resolve(now);
        return;
      }
      let timer = null;
      const observer = new MutationObserver(() => {
        const toolbar = isCurrent() ? found() : null;
        if (toolbar || !isCurrent()) {
          observer.disconnect();
          clearTimeout(timer);
          resolve(toolbar);
        }
      });
      observer.observe(document.body, { childList: true, subtree: true });
      timer = setTimeout(() => {
        observer.disconnect();
        resolve(null);
      }, TOOLBAR_WAIT_MS);
    });
  }

  // Each navigation bumps the generation; a slower wait from an earlier page then gives up
  // instead of inserting a button for the wrong scene.
  let generation = 0;

  async function onLocation(pathname) {
    const mine = ++generation;
    const sceneId = sceneIdFromPath(pathname);
    const existing = document.querySelector(`.${CONTROL_CLASS}`);
    if (existing && existing.dataset.sceneId === sceneId) {
      return; // Same scene (repeat event): keep the one button there is.
    }
    removeControls();
    if (!sceneId) {
      return;
    }
    const toolbar = await waitForToolbar(() => mine === generation);
    if (!toolbar || mine !== generation) {
      return;
    }
    toolbar.appendChild(makeControl(sceneId));
  }

  const api = window.PluginApi;
  if (api && api.Event && typeof api.Event.addEventListener === "function") {
    api.Event.addEventListener("stash:location", (event) => {
      const loc = event && event.detail && event.detail.data && event.detail.data.location;
      onLocation(loc && loc.pathname ? loc.pathname : window.location.pathname);
    });
  }
  onLocation(window.location.pathname);
})();

// ---------------------------------------------------------------------------------------------
// PlexSync: plays made in Plex reach Stash by the time you are back in Stash (watch_state).
//
// Self-contained on purpose (it shares nothing with the button above). Watching fires nothing
// Stash or PlexSync could hear, so when a Stash page is opened this asks Stash to run the
// "Sync watch state" task (a drain, which exchanges plays and resume points before it ends), at
// most once every 10 minutes per browser (localStorage), and only while watch_state is on.
(function () {
  "use strict";

  const PLUGIN_ID = "PlexSync";
  const TASK = "Sync watch state";
  const STAMP_KEY = "plexsync.watchState.requestedAt";
  const EVERY_MS = 10 * 60 * 1000;

  const SETTING_DOCUMENT = `
query PlexSyncWatchSetting($include: [ID!]) {
  configuration { plugins(include: $include) }
}`;
  const TASK_DOCUMENT = `
mutation PlexSyncWatchTask($plugin_id: ID!, $task_name: String!, $description: String) {
  runPluginTask(plugin_id: $plugin_id, task_name: $task_name, description: $description)
}`;

  let askedThisPage = 0; // when localStorage is unavailable: once per page load

  /** Claims this 10-minute slot for this browser; false when another page already did. */
  function claim(now) {
    try {
      const last = Number(window.localStorage.getItem(STAMP_KEY));
      // A stamp in the future (the clock was changed) does not block for ever.
      if (last && last <= now && now - last < EVERY_MS) {
        return false;
      }
      window.localStorage.setItem(STAMP_KEY, String(now));
      return true;
    } catch (_) {
      if (askedThisPage) {
        return false;
      }
      askedThisPage = now;
      return true;
    }
  }

  async function post(query, variables) {
    const response = await fetch(new URL("graphql", document.baseURI).href, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (!response.ok || (body.errors && body.errors.length) || !body.data) {
      throw new Error(`Stash answered ${response.status}`);
    }
    return body.data;
  }

  async function exchangeWatchState() {
    if (!claim(Date.now())) {
      return;
    }
    try {
      const data = await post(SETTING_DOCUMENT, { include: [PLUGIN_ID] });
      const settings = ((data.configuration || {}).plugins || {})[PLUGIN_ID] || {};
      const mode = String(settings.watch_state || "off").trim().toLowerCase();
      if (mode !== "plex_to_stash" && mode !== "both") {
        return;
      }
      await post(TASK_DOCUMENT, {
        plugin_id: PLUGIN_ID,
        task_name: TASK,
        description: "PlexSync: exchange watch state (Stash was opened)",
      });
    } catch (err) {
      // Nothing the user asked for failed: the next page opened after 10 minutes tries again.
      console.debug("PlexSync: watch state not requested:", err && err.message ? err.message : err);
    }
  }

  const api = window.PluginApi;
  if (api && api.Event && typeof api.Event.addEventListener === "function") {
    api.Event.addEventListener("stash:location", () => exchangeWatchState());
  }
  exchangeWatchState();
})();
