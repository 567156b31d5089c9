// A stand-in for the parts of Stash's web UI (ui/v2.5/src at cf3489e) that a plugin's scene-page
// JavaScript meets, written from reading that source:
// - window.PluginApi with React, ReactDOM, the libraries (Font Awesome solid icons,
//   react-fontawesome, react-bootstrap: the real packages at Stash's versions, loaded before this
//   file), components (Icon), hooks.useToast, patch.before/instead/after and Event;
// - the patch semantics of patch.tsx (PatchComponent registers a component; "before" functions
//   return new arguments, "instead" functions get the next one last, "after" functions get the
//   arguments plus the result);
// - Stash's toasts (hooks/Toast.tsx): one toast at a time in ".toast-container", errors win;
// - the scene page: ScenePage (patchable) with the header, subheader and the toolbar's two
//   ".scene-toolbar-group"s holding the same controls as Stash's, the 450 px column beside the
//   player, and the loader that keeps ScenePage mounted while moving from scene to scene;
// - a router that dispatches "stash:location" on every location change, as App.tsx does, and
//   loads plugin JavaScript before the routes render, as plugins.tsx does.
// Test hooks live on window.StashStandin (navigate, record, the harness log).
(function () {
  "use strict";

  const React = window.React;
  const ReactDOM = window.ReactDOM;
  const Bootstrap = window.ReactBootstrap;
  const FontAwesomeSolid = window["free-solid-svg-icons"];
  const ReactFontAwesome = window["react-fontawesome"];
  const el = React.createElement;

  // --- the harness log: what a test reads back from the dumped DOM --------------------------

  const events = [];
  function record(entry) {
    events.push(entry);
    const pre = document.getElementById("harness-log");
    if (pre) pre.textContent = JSON.stringify(events);
  }
  for (const level of ["error", "warn"]) {
    const original = console[level].bind(console);
    console[level] = function (...args) {
      record({ console: level, text: args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ") });
      original(...args);
    };
  }
  window.addEventListener("error", (e) => record({ console: "uncaught", text: String(e.message) }));

  // --- patch.tsx ------------------------------------------------------------------------------

  const beforeFns = {};
  const insteadFns = {};
  const afterFns = {};
  const components = {};
  const addTo = (table) => (name, fn) => {
    (table[name] = table[name] || []).push(fn);
  };

  function runInstead(fns, target, thisArg, args) {
    let i = 1;
    function next() {
      if (i >= fns.length) return target;
      const fn = fns[i++];
      return (...callArgs) => fn.apply(thisArg, callArgs.concat(next()));
    }
    return fns[0].apply(thisArg, args.concat(next()));
  }

  function PatchFunction(name, fn) {
    return new Proxy(fn, {
      apply(target, ctx, args) {
        for (const before of beforeFns[name] || []) args = before.apply(ctx, args);
        let result = insteadFns[name] ? runInstead(insteadFns[name], target, ctx, args) : target.apply(ctx, args);
        for (const after of afterFns[name] || []) result = after.apply(ctx, args.concat(result));
        return result;
      },
    });
  }

  function PatchComponent(name, fn) {
    const patched = PatchFunction(name, fn);
    components[name] = patched;
    return patched;
  }

  // --- hooks/event.ts -------------------------------------------------------------------------

  class StashEvent extends EventTarget {
    dispatch(event, id, data) {
      const type = `stash:${event}${id ? `:${id}` : ""}`;
      this.dispatchEvent(new CustomEvent(type, { detail: Object.assign({ event: type }, id ? { id } : {}, data ? { data } : {}) }));
    }
  }
  const Event = new StashEvent();

  // --- components/Shared/Icon.tsx -------------------------------------------------------------

  const Icon = PatchComponent("Icon", (props) =>
    el(ReactFontAwesome.FontAwesomeIcon, Object.assign({}, props, { className: `fa-icon ${props.className || ""}` }))
  );

  // --- hooks/Toast.tsx ------------------------------------------------------------------------

  const ToastContext = React.createContext(null);
  let toastId = 0;

  function ToastProvider(props) {
    const [toast, setToast] = React.useState(undefined);
    const [hiding, setHiding] = React.useState(false);
    function addToast(item) {
      if (hiding || !toast || (item.priority || 0) >= (toast.priority || 0)) {
        setHiding(false);
        setToast(Object.assign({}, item, { id: toastId++ }));
      }
    }
    const item = toast
      ? el(
          Bootstrap.Toast,
          { autohide: true, key: toast.id, onClose: () => setHiding(true), className: toast.variant || "success", delay: toast.delay || 3000 },
          el(Bootstrap.Toast.Header, null, el("span", { className: "mr-auto" }, toast.content))
        )
      : null;
    return el(
      ToastContext.Provider,
      { value: addToast },
      props.children,
      el("div", { className: `toast-container row${!toast || hiding ? " hidden" : ""}` }, item)
    );
  }

  function errorToString(error) {
    let message = error instanceof Error ? error.message : undefined;
    if (!message) message = String(error);
    return message || "Unknown error";
  }

  function useToast() {
    const addToast = React.useContext(ToastContext);
    if (!addToast) throw new Error("useToast must be used within a ToastProvider");
    return React.useMemo(
      () => ({
        toast: addToast,
        success: (message) => addToast({ content: message }),
        error: (error) => addToast({ variant: "danger", content: errorToString(error), priority: 100, delay: 5000 }),
      }),
      [addToast]
    );
  }

  // --- the scene page (components/Scenes/SceneDetails/Scene.tsx) ------------------------------

  function RatingStars() {
    const stars = [1, 2, 3, 4, 5].map((n) =>
      el(Bootstrap.Button, { key: n, variant: "secondary", className: "minimal star-fill-0", title: `${n}` },
        el(Icon, { icon: FontAwesomeSolid.faStar, className: "unset" }))
    );
    return el("div", { className: "rating-stars align-middle" }, stars);
  }

  function CountButton(props) {
    return el(
      Bootstrap.ButtonGroup,
      { className: "count-button increment-only" },
      el(Bootstrap.Button, { className: "minimal count-icon", variant: "secondary", title: props.title, onClick: props.onIncrement },
        el(Icon, { icon: props.icon })),
      el(Bootstrap.Button, { className: "minimal count-value", variant: "secondary", onClick: props.onIncrement },
        el("span", null, props.value))
    );
  }

  function Operations() {
    return el(
      Bootstrap.Dropdown,
      null,
      el(Bootstrap.Dropdown.Toggle, { variant: "secondary", id: "operation-menu", className: "minimal", title: "Operations" },
        el(Icon, { icon: FontAwesomeSolid.faEllipsisV })),
      el(Bootstrap.Dropdown.Menu, { className: "bg-secondary text-white" },
        el(Bootstrap.Dropdown.Item, { className: "bg-secondary text-white" }, "Rescan"))
    );
  }

  const ScenePage = PatchComponent("ScenePage", (props) => {
    const scene = props.scene;
    const [organized, setOrganized] = React.useState(scene.organized);
    const [plays, setPlays] = React.useState(scene.play_count);
    React.useEffect(() => setOrganized(scene.organized), [scene]);
    return el(
      React.Fragment,
      null,
      el(
        "div",
        { className: "scene-tabs order-xl-first order-last" },
        el(
          "div",
          null,
          el("div", { className: "scene-header-container" },
            el("h3", { className: "scene-header no-studio" }, scene.title)),
          el("div", { className: "scene-subheader" },
            el("span", { className: "date" }),
            el("span", { className: "resolution" }, "1080p 30 fps")),
          el(
            "div",
            { className: "scene-toolbar" },
            el("span", { className: "scene-toolbar-group" }, el(RatingStars)),
            el(
              "span",
              { className: "scene-toolbar-group" },
              el("span", null, el("span")), // the external player button: none on a desktop browser
              el("span", null, el(CountButton, { value: plays, icon: FontAwesomeSolid.faEye, title: "Play count", onIncrement: () => setPlays(plays + 1) })),
              el("span", null, el(CountButton, { value: scene.o_counter, icon: FontAwesomeSolid.faThumbsUp, title: "O-Counter" })),
              el("span", null,
                el(Bootstrap.Button, {
                  variant: "secondary",
                  title: "Organized",
                  className: `minimal organized-button ${organized ? "organized" : "not-organized"}`,
                  onClick: () => setOrganized(!organized),
                }, el(Icon, { icon: FontAwesomeSolid.faBox }))),
              el("span", null, el(Operations))
            )
          )
        ),
        el(Bootstrap.Nav, { variant: "tabs", className: "mr-auto" },
          ["Details", "Markers", "Filters", "File Info", "History", "Edit"].map((t) =>
            el(Bootstrap.Nav.Item, { key: t }, el(Bootstrap.Nav.Link, { eventKey: t }, t))))
      ),
      el("div", { className: "scene-divider d-none d-xl-block" })
    );
  });

  const SCENE_QUERY_MS = 120;

  function SceneLoader(props) {
    // Like Stash's loader: the page keeps showing the previous scene until the next one has
    // loaded, so ScenePage stays mounted and only its `scene` prop changes.
    const [scene, setScene] = React.useState(undefined);
    React.useEffect(() => {
      let live = true;
      const timer = setTimeout(() => live && setScene(sceneData(props.id)), SCENE_QUERY_MS);
      return () => {
        live = false;
        clearTimeout(timer);
      };
    }, [props.id]);
    if (!scene) return el("div", { className: "loading-indicator" }, "Loading...");
    return el(
      "div",
      { className: "row" },
      el(ScenePage, { scene }),
      el("div", { className: "scene-player-container" }, el("div", { className: "standin-player" }))
    );
  }

  function sceneData(id) {
    const titles = window.StashStandin.sceneTitles || {};
    return { id: String(id), title: titles[id] || `Scene ${id}`, organized: false, play_count: 0, o_counter: 0, rating100: null };
  }

  // --- the router and the app -----------------------------------------------------------------

  function basePath() {
    const base = new URL(document.baseURI).pathname;
    return base.endsWith("/") ? base.slice(0, -1) : base;
  }

  function routerLocation() {
    const base = basePath();
    let pathname = window.location.pathname;
    if (base && pathname.startsWith(base)) pathname = pathname.slice(base.length) || "/";
    return { pathname, search: window.location.search, hash: window.location.hash };
  }

  const listeners = new Set();

  function navigate(path) {
    window.history.pushState({}, "", basePath() + path);
    listeners.forEach((fn) => fn());
  }
  window.addEventListener("popstate", () => listeners.forEach((fn) => fn()));

  function App() {
    const [location, setLocation] = React.useState(routerLocation);
    React.useEffect(() => {
      const update = () => setLocation(routerLocation());
      listeners.add(update);
      return () => listeners.delete(update);
    }, []);
    React.useEffect(() => {
      Event.dispatch("location", "", { location });
    }, [location]);
    const match = /^\/scenes\/(\d+)\/?$/.exec(location.pathname);
    const page = match
      ? el(SceneLoader, { id: match[1] })
      : el("div", { className: "standin-page" }, el("h2", null, location.pathname));
    return el(
      ToastProvider,
      null,
      el("nav", { className: "standin-navbar" }),
      el("div", { className: "main container-fluid" }, page)
    );
  }

  window.PluginApi = {
    React,
    ReactDOM,
    GQL: {},
    libraries: { Bootstrap, FontAwesomeSolid, ReactFontAwesome },
    register: {},
    loadableComponents: {},
    components,
    utils: {},
    hooks: { useToast },
    patch: { before: addTo(beforeFns), instead: addTo(insteadFns), after: addTo(afterFns) },
    Event,
  };

  window.StashStandin = {
    record,
    navigate,
    sceneTitles: {},
    Icon,
    // Plugin scripts are loaded before this is called, as PluginsLoader waits for them.
    start() {
      ReactDOM.render(el(App), document.getElementById("root"));
    },
  };
})();
