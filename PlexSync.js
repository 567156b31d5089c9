// PlexSync in Stash's web UI: on the scene page, a "Sync to Plex" icon button and, for a scene
// PlexSync has bound to a Plex item, an "Open in Plex" link, both in the scene toolbar; on every
// page, the request that brings plays made in Plex into Stash (watch_state).
//
// Rendered the way Stash renders its own toolbar icons: React and Font Awesome from
// window.PluginApi, placed into the toolbar by patching the "ScenePage" component, feedback
// through Stash's own toasts (PluginApi.hooks.useToast). React owns the controls, so they follow
// client-side navigation and re-renders by themselves. No build step: the plugin stays a zip of
// source files, so this is plain JavaScript with React.createElement.
//
// Layout of this file: one section per feature, each using only the shared helpers.
//   1. Shared: constants, the GraphQL transport, running a plugin task / operation.
//   2. Watch state: when a Stash page opens, ask for the exchange of plays (needs no React).
//   3. Sync to Plex: queue the Re-sync task for a scene and follow its job.
//   4. Scene status: ask the plugin (runPluginOperation) for the scene's Plex Web link and
//      whether its last sync worked (Stash puts a task's error in its log, not on the job).
//   5. The toolbar controls (a React component) and where they go (the ScenePage patch).
(function () {
  "use strict";


  // ---------------------------------------------------------------------------------------------
  // 1. Shared
  // ---------------------------------------------------------------------------------------------

  const PLUGIN_ID = "PlexSync";

  // The stock StashService.mutateRunPluginTask sends `args` while its document declares
  // `$args_map`, so Stash never sees the scene id; this document is sent by hand instead.
  const RUN_TASK_MUTATION = `
mutation PlexSyncRunTask($plugin_id: ID!, $task_name: String!, $description: String, $args_map: Map) {
  runPluginTask(plugin_id: $plugin_id, task_name: $task_name, description: $description, args_map: $args_map)
}`;

  const RUN_OPERATION_MUTATION = `
mutation PlexSyncRunOperation($plugin_id: ID!, $args: Map) {
  runPluginOperation(plugin_id: $plugin_id, args: $args)
}`;

  const FIND_JOB_QUERY = `
query PlexSyncFindJob($id: ID!) {
  findJob(input: { id: $id }) { id status progress error }
}`;

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

  /** Queues one of the plugin's tasks (Stash's job queue); resolves to the job id. */
  async function runTask(taskName, description, argsMap) {
    const data = await graphql(RUN_TASK_MUTATION, {
      plugin_id: PLUGIN_ID,
      task_name: taskName,
      description,
      args_map: argsMap,
    });
    return data.runPluginTask;
  }

  /** Runs the plugin synchronously with exactly `args` (no defaultArgs); resolves to its output. */
  async function runOperation(args) {
    const data = await graphql(RUN_OPERATION_MUTATION, { plugin_id: PLUGIN_ID, args });
    return data.runPluginOperation;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---------------------------------------------------------------------------------------------
  // 2. Watch state: plays made in Plex reach Stash by the time you are back in Stash
  // ---------------------------------------------------------------------------------------------
  // Watching fires nothing Stash or PlexSync could hear, so when a Stash page is opened this asks
  // Stash to run the "Sync watch state" task (a drain, which exchanges plays and resume points
  // before it ends), at most once every 10 minutes per browser (localStorage), and only while
  // watch_state is on. It needs no React, so it runs on any Stash with a plugin UI.

  const WATCH_TASK = "Sync watch state";
  const WATCH_STAMP_KEY = "plexsync.watchState.requestedAt";
  const WATCH_EVERY_MS = 10 * 60 * 1000;

  const WATCH_SETTING_QUERY = `
query PlexSyncWatchSetting($include: [ID!]) {
  configuration { plugins(include: $include) }
}`;

  let watchAskedThisPage = 0; // when localStorage is unavailable: once per page load

  /** Claims this 10-minute slot for this browser; false when another page already did. */
  function claimWatchSlot(now) {
    try {
      const last = Number(window.localStorage.getItem(WATCH_STAMP_KEY));
      // A stamp in the future (the clock was changed) does not block for ever.
      if (last && last <= now && now - last < WATCH_EVERY_MS) {
        return false;
      }
      window.localStorage.setItem(WATCH_STAMP_KEY, String(now));
      return true;
    } catch (_) {
      if (watchAskedThisPage) {
        return false;
      }
      watchAskedThisPage = now;
      return true;
    }
  }

  async function exchangeWatchState() {
    if (!claimWatchSlot(Date.now())) {
      return;
    }
    try {
      const data = await graphql(WATCH_SETTING_QUERY, { include: [PLUGIN_ID] });
      const settings = ((data.configuration || {}).plugins || {})[PLUGIN_ID] || {};
      const mode = String(settings.watch_state || "off").trim().toLowerCase();
      if (mode !== "plex_to_stash" && mode !== "both") {
        return;
      }
      await runTask(WATCH_TASK, "PlexSync: exchange watch state (Stash was opened)");
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

  // The scene page's controls need Stash's React plugin API (every Stash with plugin UI has it).
  if (!api || !api.React || !api.patch) {
    console.warn("PlexSync: this Stash has no plugin UI API (PluginApi); the scene page buttons are off");
    return;
  }
  const React = api.React;
  const el = React.createElement;

  // ---------------------------------------------------------------------------------------------
  // 3. Sync to Plex
  // ---------------------------------------------------------------------------------------------

  const RESYNC_TASK = "Re-sync scenes";
  // Jobs run one at a time in Stash's queue, so ours may wait behind a scan. Two minutes of
  // polling is enough for one scene; after that the job queue page is the better place to look.
  const POLL_INTERVAL_MS = 2000;
  const POLL_ATTEMPTS = 60;

  /** Queues the Re-sync task for one scene; resolves to the job id. */
  function queueResync(sceneId) {
    return runTask(RESYNC_TASK, `Sync scene ${sceneId} to Plex`, { scene_id: sceneId });
  }

  /**
   * Polls the job until it leaves the queue's active states. Resolves to
   * {state: "synced"|"failed"|"cancelled"|"gone"|"slow", error?}; calls onStatus on each poll.
   */
  async function followJob(jobId, onStatus) {
    for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt++) {
      await sleep(POLL_INTERVAL_MS);
      let job;
      try {
        job = (await graphql(FIND_JOB_QUERY, { id: jobId })).findJob;
      } catch (err) {
        return { state: "failed", error: `cannot follow job ${jobId}: ${err.message}` };
      }
      if (!job) {
        // Stash keeps only a few finished jobs; an unknown id means it ended and was dropped.
        return { state: "gone" };
      }
      if (job.status === "FINISHED" && !job.error) {
        return { state: "synced" };
      }
      if (job.status === "FINISHED" || job.status === "FAILED") {
        return { state: "failed", error: job.error || "the task reported an error" };
      }
      if (job.status === "CANCELLED") {
        return { state: "cancelled" };
      }
      onStatus(job.status);
    }
    return { state: "slow" };
  }

  // ---------------------------------------------------------------------------------------------
  // 4. What PlexSync knows of a scene: its Open in Plex link and its sync state
  // ---------------------------------------------------------------------------------------------

  const PLEX_WEB_PREFIX = "https://app.plex.tv/desktop/#!/server/";

  /**
   * Asks the plugin (runPluginOperation, answered from its own database, no Plex request):
   * {url, state, detail}. `url` is the scene's Plex Web page, or null when PlexSync has not
   * bound the scene to a Plex item; only a Plex Web address is ever used as a link. `state` is
   * synced, queued, failed, review or not_synced, with `detail` saying why.
   */
  async function sceneStatus(sceneId) {
    const output = (await runOperation({ mode: "scene_status", scene_id: sceneId })) || {};
    const url = typeof output.url === "string" && output.url.startsWith(PLEX_WEB_PREFIX) ? output.url : null;
    return {
      url,
      state: String(output.state || "not_synced"),
      detail: output.detail ? String(output.detail) : "",
      syncedAt: typeof output.synced_at === "number" ? output.synced_at : null,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // 5. The toolbar controls
  // ---------------------------------------------------------------------------------------------

  const TOOLBAR_GROUP = "scene-toolbar-group";
  // Stash's theme colours (ui/v2.5/src/styles/_theme.scss: $success, $warning, $danger).
  const SUCCESS_COLOUR = "#0f9960";
  const WARNING_COLOUR = "#d9822b";
  const DANGER_COLOUR = "#db3737";

  function icons() {
    const fa = api.libraries.FontAwesomeSolid;
    return { sync: fa.faArrowsRotate, failed: fa.faTriangleExclamation, open: fa.faArrowUpRightFromSquare };
  }

  /** Stash's own Icon component (a FontAwesomeIcon with its `fa-icon` class). */
  function Icon(props) {
    const StashIcon = api.components && api.components.Icon;
    if (StashIcon) {
      return el(StashIcon, props);
    }
    const { FontAwesomeIcon } = api.libraries.ReactFontAwesome;
    return el(FontAwesomeIcon, Object.assign({}, props, { className: `fa-icon ${props.className || ""}` }));
  }

  /** What the sync button shows: icon, colour and tooltip per state (the width never changes). */
  function syncLook(sync) {
    const fa = icons();
    switch (sync.state) {
      case "busy":
        return { icon: fa.sync, spin: true, title: `Sync to Plex: ${sync.detail}` };
      case "synced":
        return { icon: fa.sync, color: SUCCESS_COLOUR, title: `Synced to Plex ${sync.at}. Click to sync again.` };
      case "queued":
        return { icon: fa.sync, color: WARNING_COLOUR, title: `Sync to Plex: waiting (${sync.detail}). Click to sync now.` };
      case "failed":
        return { icon: fa.failed, color: DANGER_COLOUR, title: `Sync to Plex failed: ${sync.detail}. Click to try again.` };
      default:
        return { icon: fa.sync, title: "Sync to Plex: send this scene to Plex now (PlexSync)" };
    }
  }

  /** The button's state for what the plugin reported (null: the plugin could not be asked). */
  function syncFromStatus(status) {
    if (!status) return { state: "failed", detail: "PlexSync did not answer; see Settings → Logs" };
    switch (status.state) {
      case "synced": {
        const when = status.syncedAt ? new Date(status.syncedAt * 1000) : null;
        return { state: "synced", at: when ? `on ${when.toLocaleString()}` : "" };
      }
      case "queued":
        return { state: "queued", detail: status.detail || "queued" };
      case "failed":
      case "review":
        return { state: "failed", detail: status.detail || status.state };
      default:
        return { state: "idle" };
    }
  }

  function PlexSyncControls(props) {
    const sceneId = props.sceneId;
    const Toast = api.hooks.useToast();
    const { Button } = api.libraries.Bootstrap;
    const [sync, setSync] = React.useState({ state: "idle" });
    const [link, setLink] = React.useState(null);
    const mounted = React.useRef(true);

    /** The scene's status from the plugin; updates the link. Resolves to null on an error. */
    const refreshStatus = React.useCallback(
      () =>
        sceneStatus(sceneId).then(
          (status) => {
            if (mounted.current) setLink(status.url);
            return status;
          },
          (err) => {
            console.warn(`PlexSync: no status for scene ${sceneId}: ${err.message}`);
            return null;
          }
        ),
      [sceneId]
    );

    React.useEffect(() => {
      mounted.current = true;
      refreshStatus().then((status) => {
        // The state the scene is in when the page opens (a click meanwhile has its own).
        if (status && mounted.current) setSync((now) => (now.state === "idle" ? syncFromStatus(status) : now));
      });
      return () => {
        mounted.current = false;
      };
    }, [refreshStatus]);

    // State updates stop when the user has left the scene; the toasts still report the outcome.
    const show = (next) => mounted.current && setSync(next);

    async function onClick() {
      show({ state: "busy", detail: "queueing…" });
      let jobId;
      try {
        jobId = await queueResync(sceneId);
      } catch (err) {
        show({ state: "failed", detail: err.message });
        Toast.error(`PlexSync: ${err.message}`);
        return;
      }
      show({ state: "busy", detail: `job ${jobId} queued…` });
      Toast.success(`PlexSync: scene ${sceneId} queued (job ${jobId})`);
      const end = await followJob(jobId, (status) =>
        show({ state: "busy", detail: `job ${jobId} ${status.toLowerCase()}…` })
      );
      if (end.state === "synced") {
        // The job finished; whether the scene reached Plex is in the plugin's database.
        const next = syncFromStatus(await refreshStatus());
        show(next);
        if (next.state === "synced") {
          Toast.success(`PlexSync: scene ${sceneId} synced to Plex`);
        } else if (next.state === "queued") {
          Toast.toast({ variant: "warning", content: `PlexSync: scene ${sceneId} waits: ${next.detail}` });
        } else {
          const detail = next.detail || "not synced; see Settings → Logs";
          show({ state: "failed", detail });
          Toast.error(`PlexSync: scene ${sceneId} failed: ${detail}`);
        }
      } else if (end.state === "failed") {
        show({ state: "failed", detail: end.error });
        Toast.error(`PlexSync: scene ${sceneId} failed: ${end.error}`);
      } else {
        show({ state: "idle" });
        const why = { cancelled: "was cancelled", gone: "ended; see Logs", slow: "still running" };
        Toast.toast({ variant: "warning", content: `PlexSync: job ${jobId} ${why[end.state]}` });
      }
    }

    const look = syncLook(sync);
    const controls = [
      el(
        "span",
        { key: "sync", className: "plexsync-sync", "data-scene-id": sceneId, "data-state": sync.state },
        el(
          Button,
          {
            variant: "secondary",
            className: "minimal plexsync-sync-button",
            title: look.title,
            "aria-label": look.title,
            disabled: sync.state === "busy",
            onClick,
          },
          el(Icon, { icon: look.icon, spin: !!look.spin, color: look.color })
        )
      ),
    ];
    if (link) {
      controls.push(
        el(
          "span",
          { key: "open", className: "plexsync-open", "data-scene-id": sceneId },
          el(
            Button,
            {
              variant: "secondary",
              className: "minimal plexsync-open-button",
              href: link,
              target: "_blank",
              rel: "noopener noreferrer",
              title: "Open in Plex (Plex Web, new tab)",
              "aria-label": "Open in Plex",
            },
            el(Icon, { icon: icons().open })
          )
        )
      );
    }
    return el(React.Fragment, null, controls);
  }

  function isToolbarGroup(node) {
    const cls = node.props && node.props.className;
    return typeof cls === "string" && cls.split(/\s+/).includes(TOOLBAR_GROUP);
  }

  /**
   * A copy of the rendered tree with `extra` in the scene toolbar's last group, before its last
   * item (Stash's "⋮" operations menu); null when the tree has no toolbar group. Only the
   * elements on the way to that group are copied, so React keeps everything else as it is.
   */
  function withControls(node, extra) {
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) {
        const replaced = withControls(node[i], extra);
        if (replaced !== null) {
          const copy = node.slice();
          copy[i] = replaced;
          return copy;
        }
      }
      return null;
    }
    if (!React.isValidElement(node) || !node.props) {
      return null;
    }
    const children = node.props.children;
    if (isToolbarGroup(node)) {
      const items = children === undefined || children === null ? [] : [].concat(children);
      const at = Math.max(items.length - 1, 0);
      return React.cloneElement(node, undefined, ...items.slice(0, at), extra, ...items.slice(at));
    }
    if (children === undefined || children === null) {
      return null;
    }
    const replaced = withControls(children, extra);
    if (replaced === null) {
      return null;
    }
    return Array.isArray(children)
      ? React.cloneElement(node, undefined, ...replaced)
      : React.cloneElement(node, undefined, replaced);
  }

  let warnedNoToolbar = false;

  // Stash calls a patched component's "after" functions with the render's arguments and then
  // its result (ui/v2.5/src/patch.tsx): (props, ref-or-context, result).
  api.patch.after("ScenePage", function () {
    const props = arguments[0];
    const result = arguments[arguments.length - 1];
    const scene = props && props.scene;
    if (!scene || scene.id === undefined || scene.id === null) {
      return result;
    }
    const sceneId = String(scene.id);
    // Keyed by scene: moving to another scene (the page stays mounted) starts afresh.
    const extra = el(PlexSyncControls, { key: `plexsync-${sceneId}`, sceneId });
    const patched = withControls(result, extra);
    if (patched === null) {
      if (!warnedNoToolbar) {
        warnedNoToolbar = true;
        console.warn("PlexSync: no .scene-toolbar-group on the scene page; the Sync to Plex button is off");
      }
      return result;
    }
    return patched;
  });
})();
