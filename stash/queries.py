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
  performers { name image_path }
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

# The worker's batched fetch: the scenes of the jobs it is about to process, in one round trip.
FIND_SCENES_BY_IDS = (
    """
query PlexSyncFindScenesByIds($ids: [ID!], $per_page: Int!) {
  findScenes(ids: $ids, filter: { per_page: $per_page }) { scenes { ...PlexSyncScene } }
}
"""
    + _SCENE_FIELDS
)

# Sync all: every scene with everything Plex shows, a page at a time, to compare with the ledger.
FIND_SCENES_PAGE = (
    """
query PlexSyncScenesPage($page: Int!, $per_page: Int!) {
  findScenes(filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }) {
    count scenes { ...PlexSyncScene }
  }
}
"""
    + _SCENE_FIELDS
)

# Matching by file name is safe only if no other scene has a file of that name. EQUALS is SQL
# LIKE in Stash (ASCII letters fold case, ``_`` and ``%`` are wildcards, no escape): the answer is
# a superset, so callers read every page and compare the names themselves.
SCENES_WITH_FILE_NAME = """
query PlexSyncScenesWithFileName($name: String!, $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { files_filter: { basename: { value: $name, modifier: EQUALS } } }
    filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }
  ) { count scenes { id files { path basename } } }
}
"""

# The newest scene stamp: where a data folder with no cursor yet starts catching up from.
NEWEST_SCENE_STAMP = """
query PlexSyncNewestStamp {
  findScenes(filter: { page: 1, per_page: 1, sort: "updated_at", direction: DESC }) {
    count scenes { id updated_at }
  }
}
"""

# Paging through every scene (sync_all), ids and stamps only: the worker fetches full data later.
FIND_SCENE_STAMPS = """
query PlexSyncSceneStamps($page: Int!, $per_page: Int!) {
  findScenes(filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }) {
    count scenes { id updated_at }
  }
}
"""

# sync_recent's scene pass: ids and stamps of scenes changed since `since` (a value Stash itself
# returned, minus an overlap margin, in Stash's own offset: the filter is a string comparison).
SCENE_STAMPS_SINCE = """
query PlexSyncSceneStampsSince($since: String!, $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count scenes { id updated_at } }
}
"""

# Which of these scene ids exist (resync_scene's check, sync_all's confirmation before pruning).
SCENE_STAMPS_BY_IDS = """
query PlexSyncSceneStampsByIds($ids: [ID!], $per_page: Int!) {
  findScenes(ids: $ids, filter: { per_page: $per_page, sort: "id", direction: ASC }) {
    count scenes { id updated_at }
  }
}
"""

# sync_recent's rename pass: a rename touches no scene row, so the renamed object is found by
# its own updated_at (same string-comparison rules as scenes).
PERFORMERS_UPDATED_SINCE = """
query PlexSyncPerformersSince($since: String!, $page: Int!, $per_page: Int!) {
  findPerformers(
    performer_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count performers { id name updated_at } }
}
"""

TAGS_UPDATED_SINCE = """
query PlexSyncTagsSince($since: String!, $page: Int!, $per_page: Int!) {
  findTags(
    tag_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count tags { id name updated_at } }
}
"""

STUDIOS_UPDATED_SINCE = """
query PlexSyncStudiosSince($since: String!, $page: Int!, $per_page: Int!) {
  findStudios(
    studio_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count studios { id name updated_at } }
}
"""

GROUPS_UPDATED_SINCE = """
query PlexSyncGroupsSince($since: String!, $page: Int!, $per_page: Int!) {
  findGroups(
    group_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count groups { id name updated_at } }
}
"""

# A drain's catch-up: everything changed since the cursor in ONE request (scenes and the objects
# whose renames change scenes); only a kind with more than a page is paged on separately.
CHANGES_SINCE = """
query PlexSyncChangesSince($since: String!, $per_page: Int!) {
  findScenes(
    scene_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: 1, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count scenes { id updated_at } }
  findPerformers(
    performer_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: 1, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count performers { id name updated_at } }
  findTags(
    tag_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: 1, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count tags { id name updated_at } }
  findStudios(
    studio_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: 1, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count studios { id name updated_at } }
  findGroups(
    group_filter: { updated_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: 1, per_page: $per_page, sort: "updated_at", direction: ASC }
  ) { count groups { id name updated_at } }
}
"""

# Scenes affected by a performer, tag, studio or group rename (Stash fires no scene hook for those).
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

SCENES_WITH_GROUP = """
query PlexSyncScenesWithGroup($ids: [ID!], $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { groups: { value: $ids, modifier: INCLUDES } }
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
    "FIND_SCENES_BY_IDS": FIND_SCENES_BY_IDS,
    "FIND_SCENE_STAMPS": FIND_SCENE_STAMPS,
    "FIND_SCENES_PAGE": FIND_SCENES_PAGE,
    "SCENES_WITH_FILE_NAME": SCENES_WITH_FILE_NAME,
    "NEWEST_SCENE_STAMP": NEWEST_SCENE_STAMP,
    "GROUPS_UPDATED_SINCE": GROUPS_UPDATED_SINCE,
    "CHANGES_SINCE": CHANGES_SINCE,
    "SCENES_WITH_GROUP": SCENES_WITH_GROUP,
    "SCENE_STAMPS_SINCE": SCENE_STAMPS_SINCE,
    "SCENE_STAMPS_BY_IDS": SCENE_STAMPS_BY_IDS,
    "PERFORMERS_UPDATED_SINCE": PERFORMERS_UPDATED_SINCE,
    "TAGS_UPDATED_SINCE": TAGS_UPDATED_SINCE,
    "STUDIOS_UPDATED_SINCE": STUDIOS_UPDATED_SINCE,
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
