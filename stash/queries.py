"""Every GraphQL document PlexSync sends to Stash.

They live in one module so that a single test can validate all of them against Stash's real
schema; a document written inline elsewhere would escape that check.
"""

PLUGIN_ID = "PlexSync"

# The hook's timestamp check: the smallest query that answers "has this scene changed?".
SCENE_UPDATED_AT = """
query PlexSyncSceneStamp($id: ID!) {
  findScene(id: $id) { id updated_at }
}
"""

_SCENE_FIELDS = """
fragment PlexSyncScene on Scene {
  id title code details director date rating100 organized urls updated_at
  files { path basename size duration }
  studio { name }
  performers { name }
  tags { name }
  groups { group { name } scene_index }
  paths { screenshot }
}
"""

# The worker's fetch at processing time: the latest data wins.
FIND_SCENE = (
    """
query PlexSyncFindScene($id: ID!) {
  findScene(id: $id) { ...PlexSyncScene }
}
"""
    + _SCENE_FIELDS
)

# Late-update detection. Stash compares updated_at as a string in its own zone, so `since` is
# always a value Stash itself produced (see sync/timestamps.py).
FIND_SCENES_UPDATED_SINCE = (
    """
query PlexSyncScenesSince($since: String!, $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count scenes { ...PlexSyncScene } }
}
"""
    + _SCENE_FIELDS
)

# Paging through every scene (sync_all), ids and stamps only: the worker fetches full data later.
FIND_SCENE_STAMPS = """
query PlexSyncSceneStamps($page: Int!, $per_page: Int!) {
  findScenes(filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }) {
    count scenes { id updated_at }
  }
}
"""

# Scenes affected by a performer, tag or studio rename (Stash fires no scene hook for those).
SCENES_WITH_PERFORMER = """
query PlexSyncScenesWithPerformer($ids: [ID!], $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { performers: { value: $ids, modifier: INCLUDES } }
    filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }
  ) { count scenes { id updated_at } }
}
"""

SCENES_WITH_TAG = """
query PlexSyncScenesWithTag($ids: [ID!], $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { tags: { value: $ids, modifier: INCLUDES } }
    filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }
  ) { count scenes { id updated_at } }
}
"""

SCENES_WITH_STUDIO = """
query PlexSyncScenesWithStudio($ids: [ID!], $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { studios: { value: $ids, modifier: INCLUDES } }
    filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }
  ) { count scenes { id updated_at } }
}
"""

PLUGIN_SETTINGS = """
query PlexSyncSettings($include: [ID!]) {
  configuration { plugins(include: $include) }
}
"""

# configurePlugin replaces the plugin's whole map: callers merge before they write.
CONFIGURE_PLUGIN = """
mutation PlexSyncConfigure($plugin_id: ID!, $input: Map!) {
  configurePlugin(plugin_id: $plugin_id, input: $input)
}
"""

RUN_PLUGIN_TASK = """
mutation PlexSyncRunTask($plugin_id: ID!, $task_name: String!, $description: String, $args_map: Map) {
  runPluginTask(plugin_id: $plugin_id, task_name: $task_name, description: $description, args_map: $args_map)
}
"""

ALL_DOCUMENTS: dict[str, str] = {
    "SCENE_UPDATED_AT": SCENE_UPDATED_AT,
    "FIND_SCENE": FIND_SCENE,
    "FIND_SCENES_UPDATED_SINCE": FIND_SCENES_UPDATED_SINCE,
    "FIND_SCENE_STAMPS": FIND_SCENE_STAMPS,
    "SCENES_WITH_PERFORMER": SCENES_WITH_PERFORMER,
    "SCENES_WITH_TAG": SCENES_WITH_TAG,
    "SCENES_WITH_STUDIO": SCENES_WITH_STUDIO,
    "PLUGIN_SETTINGS": PLUGIN_SETTINGS,
    "CONFIGURE_PLUGIN": CONFIGURE_PLUGIN,
    "RUN_PLUGIN_TASK": RUN_PLUGIN_TASK,
}

# The task the hook asks Stash to run; must equal a task `name` in PlexSync.yml.
PROCESS_QUEUE_TASK = "Process queue"
RESYNC_TASK = "Re-sync scenes"
