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
  studio { id name }
  performers { name image_path }
  tags { id name }
  groups { group { id name } scene_index }
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

# ``depth`` -1 also finds the scenes of every sub-tag / sub-studio (a hierarchy edit's reach).
SCENES_WITH_TAG = """
query PlexSyncScenesWithTag($ids: [ID!], $page: Int!, $per_page: Int!, $depth: Int) {
  findScenes(
    scene_filter: { tags: { value: $ids, modifier: INCLUDES, depth: $depth } }
    filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }
  ) { count scenes { id updated_at } }
}
"""

SCENES_WITH_STUDIO = """
query PlexSyncScenesWithStudio($ids: [ID!], $page: Int!, $per_page: Int!, $depth: Int) {
  findScenes(
    scene_filter: { studios: { value: $ids, modifier: INCLUDES, depth: $depth } }
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

# The tag and studio hierarchies, whole, once per task: what exclude_tags, label_tags and
# studio_collections resolve against (a request per tag would cost thousands).
ALL_TAGS = """
query PlexSyncAllTags($page: Int!, $per_page: Int!) {
  findTags(filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }) {
    count tags { id name parents { id } }
  }
}
"""

ALL_STUDIOS = """
query PlexSyncAllStudios($page: Int!, $per_page: Int!) {
  findStudios(filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }) {
    count studios { id name parent_studio { id } }
  }
}
"""

# What a group's Plex collection shows: its synopsis and front image (the image URL carries the
# group's updated_at, and ``default=true`` when the group has none).
_GROUP_FIELDS = "id name synopsis front_image_path updated_at"

GROUPS_BY_IDS = f"""
query PlexSyncGroupsByIds($ids: [ID!], $per_page: Int!) {{
  findGroups(ids: $ids, filter: {{ per_page: $per_page, sort: "id", direction: ASC }}) {{
    count groups {{ {_GROUP_FIELDS} }}
  }}
}}
"""

ALL_GROUPS = f"""
query PlexSyncAllGroups($page: Int!, $per_page: Int!) {{
  findGroups(filter: {{ page: $page, per_page: $per_page, sort: "id", direction: ASC }}) {{
    count groups {{ {_GROUP_FIELDS} }}
  }}
}}
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

# Watch state (issue 18). Stash fires no hook for a play, so the drain asks for the scenes played
# since its last look. The filter compares the text of the newest play with $since, and Stash
# keeps plays in UTC: $since must be written in UTC ("...Z").
PLAYED_SINCE = """
query PlexSyncPlayedSince($since: String!, $page: Int!, $per_page: Int!) {
  findScenes(
    scene_filter: { last_played_at: { value: $since, modifier: GREATER_THAN } }
    filter: { page: $page, per_page: $per_page, sort: "id", direction: ASC }
  ) { count scenes { id play_history resume_time last_played_at } }
}
"""

# After an interrupted exchange: do the plays PlexSync meant to add stand in Stash already?
PLAY_HISTORY_BY_IDS = """
query PlexSyncPlayHistory($ids: [ID!], $per_page: Int!) {
  findScenes(ids: $ids, filter: { per_page: $per_page }) { scenes { id play_history } }
}
"""

# One play per time (sceneAddPlay with no time would record "now").
ADD_PLAYS = """
mutation PlexSyncAddPlays($id: ID!, $times: [Timestamp!]) {
  sceneAddPlay(id: $id, times: $times) { count }
}
"""

# The resume point only (playDuration left alone: PlexSync knows no play duration).
SAVE_RESUME = """
mutation PlexSyncSaveResume($id: ID!, $resume_time: Float) {
  sceneSaveActivity(id: $id, resume_time: $resume_time)
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
    "ALL_TAGS": ALL_TAGS,
    "ALL_STUDIOS": ALL_STUDIOS,
    "GROUPS_BY_IDS": GROUPS_BY_IDS,
    "ALL_GROUPS": ALL_GROUPS,
    "PLUGIN_SETTINGS": PLUGIN_SETTINGS,
    "CONFIGURE_PLUGIN": CONFIGURE_PLUGIN,
    "RUN_PLUGIN_TASK": RUN_PLUGIN_TASK,
    "PLAYED_SINCE": PLAYED_SINCE,
    "PLAY_HISTORY_BY_IDS": PLAY_HISTORY_BY_IDS,
    "ADD_PLAYS": ADD_PLAYS,
    "SAVE_RESUME": SAVE_RESUME,
}

# The task the hook asks Stash to run; must equal a task `name` in PlexSync.yml.
PROCESS_QUEUE_TASK = "Process queue"
# The args the hook runs it with. The Tasks page runs a task with the manifest's defaultArgs and
# nothing else, so the extra key tells a drain a hook asked for from one a person started (who
# wants every queued job now, retry times or not).
HOOK_DRAIN_ARGS = {"mode": "process_queue", "requested_by": "hook"}
RESYNC_TASK = "Re-sync scenes"
WATCH_TASK = "Sync watch state"  # what PlexSync.js runs when Stash is opened
