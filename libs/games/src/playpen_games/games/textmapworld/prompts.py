"""Playpen's own wording for textmapworld instances (the protocol — GO/DONE, the JSON reply — is clembench's).

Placeholders are filled by the game: $INITIAL_ROOM$, $INITIAL_DIRECTIONS$, $GOAL$ (the initial prompt) and
$ANOTHER_ROOM$, $SAME_ROOM$, $DIRECTIONS$ (the describer's answers). Example rooms are none of the
generator's rooms.
"""

MOVE_PATTERN = r"^GO:\s*(north|east|west|south)$"
STOP_PATTERN = r"^DONE$"
REPLY_PATTERN = (r'^\{\s*"action":\s*"([^{}]*?)"\s*,\s*"graph":\s*(\{\s*"nodes"\s*:\s*\[.*?\]\s*,\s*"edges"\s*:'
                 r'\s*\{.*?\}\s*\})\s*\}$')

_COMMANDS = """Reply to every message with exactly one command and nothing else:
GO: DIRECTION  (walk through that exit; DIRECTION is north, south, east or west)
DONE  ({done})"""

EXPLORE = f"""We are going to explore a house together, room by room. I tell you where you are and which exits the \
room has. Your task is to step into every room of the house while changing rooms as rarely as possible, and to \
stop as soon as there is no room left that you have not been in.

{_COMMANDS.format(done="you have been in every room")}

An example of how it goes:
You are in the Porch. Exits: north, west. What do you do next?
GO: north
You step into the Landing. Exits: south, east. What do you do next?
GO: east
...
You step into the Corridor. Exits: west. What do you do next?
DONE

Here we go. You are in the $INITIAL_ROOM$. Exits: $INITIAL_DIRECTIONS$. What do you do next?"""

FIND = f"""We are going to search a house for one particular room. I tell you where you are and which exits the \
room has. Walk from room to room until you are standing in the room you are looking for, and say that you have \
arrived as soon as you are there.

{_COMMANDS.format(done="you are in the room you are looking for")}

An example of how it goes:
You are looking for the Corridor. You are in the Porch. Exits: north, west. What do you do next?
GO: north
You step into the Landing. Exits: south, east. What do you do next?
GO: east
You step into the Corridor. Exits: west. What do you do next?
DONE

Here we go. You are looking for the $GOAL$. You are in the $INITIAL_ROOM$. Exits: $INITIAL_DIRECTIONS$. What do \
you do next?"""

DRAW = """We are going to explore a house together, room by room, and draw its map as we go. I tell you where \
you are and which exits the room has. Your task is to step into every room of the house while changing rooms as \
rarely as possible, and to stop as soon as there is no room left that you have not been in.

Reply to every message with one JSON object on one line and nothing else (no code block, no comment):
{"action": "<your command>", "graph": {"nodes": [<rooms>], "edges": {"north": [<pairs>], "south": [<pairs>], \
"east": [<pairs>], "west": [<pairs>]}}}
The command is "GO: north", "GO: south", "GO: east" or "GO: west" to walk through that exit, or "DONE" once you \
have been in every room. The graph is your map so far: "nodes" lists every room you know, and each direction \
lists the pairs ["from room", "to room"] of rooms you walked between in that direction.

An example of how it goes:
You are in the Porch. Exits: north, west. What do you do next?
{"action": "GO: north", "graph": {"nodes": ["Porch"], "edges": {"north": [], "south": [], "east": [], "west": []}}}
You step into the Landing. Exits: south, east. What do you do next?
{"action": "GO: east", "graph": {"nodes": ["Porch", "Landing"], "edges": {"north": [["Porch", "Landing"]], \
"south": [], "east": [], "west": []}}}
...
{"action": "DONE", "graph": {"nodes": ["Porch", "Landing", ...], "edges": {...}}}

Here we go. You are in the $INITIAL_ROOM$. Exits: $INITIAL_DIRECTIONS$. What do you do next?"""

ENTERED = "You step into the $ANOTHER_ROOM$. Exits: $DIRECTIONS$. What do you do next?"
BLOCKED = ("There is no exit that way, so you are still in the $SAME_ROOM$. Exits: $DIRECTIONS$. "
           "What do you do next?")
LOOP_REMINDER = "You keep walking back and forth between the same rooms. If you are finished, answer DONE."
TURNS_REMINDER = "We are almost out of time. If you are finished, answer DONE."
