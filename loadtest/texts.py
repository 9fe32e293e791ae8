"""Movie reviews the load test sends: written for this project, short one-liners to long essays.

The mix is skewed the way real traffic is: most reviews are a sentence or a short paragraph, a few run to
several hundred words. Positive, negative and mixed opinions are all present, so both labels come back.
"""

from __future__ import annotations

import random

REVIEWS: tuple[str, ...] = (
    # One-liners.
    "Loved every minute of it.",
    "A tedious, joyless slog.",
    "The dog was the best actor in this film, and the dog was barely in it.",
    "Gorgeous to look at, impossible to care about.",
    "I laughed, I cried, I bought the soundtrack on the way home.",
    "Two hours I will never get back.",
    "Sharp, funny and far smarter than its trailer suggests.",
    "The twist is visible from orbit.",
    # A few sentences.
    "I went in expecting a by-the-numbers heist picture and came out grinning. The crew banter is quick, "
    "the safe-cracking sequences are staged with real wit, and the final double-cross actually earns its "
    "place instead of arriving out of nowhere.",
    "The first act promises a tense thriller about a lighthouse keeper who starts receiving letters from "
    "himself. Sadly, the script has no idea what to do with that premise, and by the end the mystery is "
    "explained in a lazy voice-over that undoes everything.",
    "Not a perfect film, but a generous one. The pacing sags in the middle and one subplot about a rival "
    "bakery goes nowhere, yet the two leads are so warm together that I forgave almost everything.",
    "Every scene is lit like a perfume commercial and acted like a table read. I kept waiting for a single "
    "line of dialogue that sounded like something a human being would say, and it never came.",
    "A small miracle of a documentary. The director simply follows three retired ferry captains around "
    "their harbour town for a year, and somehow it becomes a moving portrait of friendship, age and pride.",
    "The animation is lovely and the songs are catchy, but the story borrows so heavily from better films "
    "that my ten-year-old kept guessing the next scene out loud, correctly, every single time.",
    # A paragraph.
    "There is a scene about forty minutes in where the widowed farmer sits at the kitchen table and tries "
    "to write a letter to his estranged daughter. No music, no cutaways, just a man failing to find the "
    "words for almost three minutes. It is the bravest stretch of filmmaking I have seen this year, and the "
    "rest of the film is nearly as good. The supporting cast, mostly non-professional actors from the "
    "region, bring an unforced honesty that a starrier production would have smothered. Go see it on the "
    "biggest screen you can find; the wheat fields deserve it.",
    "I really wanted to like this. The original was a formative film for me, and the early marketing "
    "suggested the sequel understood what made it special. Unfortunately it mistakes volume for intensity. "
    "Every action scene is louder, longer and more chaotic than the last, the new villain is a collection "
    "of tics rather than a character, and the returning hero is given almost nothing to do except look "
    "pained. By the third collapsing building I had stopped caring who was inside.",
    "What a pleasant surprise. The premise, a retired chess champion coaching a hopeless school team, "
    "sounds like a dozen other feel-good movies, and in outline it is. But the writing is specific and "
    "funny, the kids feel like actual kids rather than screenwriter mouthpieces, and the tournament "
    "finale is edited with such clarity that even viewers who have never played chess will follow every "
    "move. I left the cinema in a better mood than I entered it.",
    # Long reviews.
    "Some films are difficult because they challenge you, and some are difficult because nobody involved "
    "seems to have decided what the film is about. This one belongs firmly to the second group. It opens "
    "as a family drama, with a grown son returning to the coastal town where his mother is slowly losing "
    "her memory, and for twenty minutes it is promising: the house is full of carefully observed detail, "
    "the mother is played with real delicacy, and the son's irritation and guilt feel true. Then, without "
    "warning, the film becomes a conspiracy thriller about a fishing company, complete with a shadowy "
    "executive, a car chase on a cliff road and a hacker neighbour who exists purely to deliver "
    "exposition. Then it becomes a romance. Then, in the last act, it tries to be the family drama again, "
    "asking us to weep over a reconciliation between two people the film itself forgot about for an hour. "
    "The performances are not the problem; the lead actress in particular deserves a far better film. The "
    "problem is a screenplay that behaves like a channel-surfer, sampling genres and abandoning each one "
    "the moment it requires commitment. The photography is handsome and the score is tasteful, which only "
    "makes the emptiness more noticeable. I cannot recommend it, except perhaps as a case study in how "
    "good ingredients can produce a bad meal.",
    "I have now seen this three times, and it keeps getting better. On the surface it is a modest story: "
    "a night-shift nurse, a patient who will not stop talking, a hospital corridor that seems to stretch "
    "forever after midnight. Almost the entire running time takes place over a single shift, and the "
    "camera rarely leaves the ward. Yet the film is full of incident, because the writer understands that "
    "drama lives in small decisions: whether to answer a call bell one more time, whether to tell a "
    "frightened man the truth, whether to eat a colleague's leftover birthday cake at four in the "
    "morning. The lead performance is a marvel of restraint. She does more with a tired glance at a wall "
    "clock than most actors do with a monologue. The patient, played by a veteran character actor who "
    "has spent decades in forgettable supporting roles, finally gets the part he deserves, and he is "
    "funny, infuriating and heartbreaking in equal measure. The sound design deserves its own paragraph: "
    "the hum of machines, distant lifts and squeaking shoes build a world you can almost smell. It is "
    "not a film that announces its importance, and it will probably be overlooked at awards time. Seek "
    "it out anyway. It is humane, precise and quietly devastating.",
    "A word of warning to anyone drawn in by the poster: this is not the swashbuckling adventure it "
    "claims to be. It is two and a half hours of people in beautiful costumes standing in beautiful rooms "
    "discussing a war that the budget clearly could not afford to show. I do not object to talky historical "
    "dramas in principle, but the talk has to be good, and here it is stilted and repetitive, with "
    "characters explaining their motives to each other again and again as if the audience might have "
    "dozed off. Admittedly, some of us had. The one battle that does appear on screen is filmed in such "
    "murky darkness that I genuinely could not tell which side was winning, and the film does not seem "
    "sure either. The young king is played by an actor with plenty of charisma who is given nothing to "
    "do but look anxious. There are flashes of what might have been: a tense dinner scene with a poisoned "
    "cup, a sly performance from the actress playing the queen mother, a striking final image of an "
    "empty throne. But these moments are buried under so much lifeless exposition that they barely "
    "register. Save your money and read a good history book instead.",
    # Essays of several hundred words.
    "It is rare for a science-fiction film to be this confident in its ideas and this patient with its "
    "audience. The story follows a maintenance engineer on a generation ship who discovers that the "
    "navigation records have been quietly edited for decades. That sounds like the set-up for a paranoid "
    "chase, and a lesser film would have delivered one, with corridors, alarms and a sinister captain. "
    "Instead the script slows down and asks harder questions. Who edits a history, and why? What do you "
    "owe the people who lied to you if the lie kept everyone alive? Is a community built on a false "
    "destination still a community? The engineer's investigation unfolds through conversations rather "
    "than set pieces: with an elderly archivist who remembers the last honest records, with a teenage "
    "gardener who has never known anything but the ship, with a council member who defends the lie with "
    "arguments that are uncomfortably persuasive. Each of these scenes is written with care, and the "
    "actors play them without a hint of condescension. The production design is equally thoughtful. "
    "Rather than gleaming chrome, the ship looks lived in, patched and repainted by generations of hands, "
    "with hand-lettered signs and gardens growing in old cargo bays. The score, mostly solo cello, "
    "gives the whole thing the feel of a chamber piece. If there is a weakness, it is the final ten "
    "minutes, which hurry towards a resolution that the rest of the film had wisely avoided, and which "
    "introduce a convenient piece of technology that solves a problem the story had made feel "
    "unsolvable. It is a small stumble. Everything before it is intelligent, moving and visually "
    "distinctive, and the central performance, all suppressed anger slowly turning into something like "
    "grace, is one of the best of the year. Science fiction on screen is too often a delivery system "
    "for explosions. This one remembers that the genre was built on questions, and it has the courage "
    "to leave some of them open. I have been thinking about it for a week, and I expect to keep thinking "
    "about it for a long while yet.",
    "I need to explain why this comedy made me so angry, because on paper it has everything I enjoy. "
    "The cast is stacked with performers I would happily watch read a phone book. The premise, four old "
    "university friends renting a crumbling villa for a reunion that goes wrong in every possible way, "
    "is a reliable engine for farce. The location is gorgeous. And yet I sat through the whole thing in "
    "stony silence, surrounded by an audience that was just as quiet. The problem starts with the "
    "script, which confuses cruelty with wit. Almost every joke is a character humiliating another "
    "character, and because the film never establishes why these people were friends in the first "
    "place, the humiliations have no sting and no warmth; they are just unpleasant. The second problem "
    "is the editing. Scenes run long after the point has been made, improvised riffs are left in even "
    "when they clearly go nowhere, and several potentially funny set pieces, including a disastrous "
    "attempt to cook a whole fish and a midnight swim that ends with the police, are cut so sloppily "
    "that the timing of every gag is lost. The third problem is tone. In the final half hour the film "
    "suddenly asks us to take a secret affair and a serious illness to heart, with swelling strings and "
    "tearful speeches on a terrace at sunset. It is too late. We have spent ninety minutes being told "
    "these people are shallow and spiteful, and no amount of golden-hour photography can reverse that. "
    "There are two good things here. A supporting actor playing the villa's long-suffering caretaker "
    "steals every scene he is in with a few perfectly timed sighs, and the opening credits sequence, "
    "set to an old Italian pop song, is genuinely charming. Neither is worth the price of a ticket. "
    "Watch the trailer, which contains every decent joke, and spend the remaining time with your own "
    "old friends instead. You will laugh more, and you will like the company better.",
    "My expectations for a two-hour film about competitive bread baking were low, and I am happy to "
    "report that I was completely wrong. This is one of the most purely enjoyable documentaries I have "
    "seen in years. It follows six amateur bakers from very different backgrounds through a year of "
    "regional heats leading up to a national final, and it succeeds because it treats their obsession "
    "with total seriousness while never losing its sense of humour. We meet a retired bus driver who "
    "talks to his sourdough starter every morning, a pair of teenage sisters who bake in a tiny flat "
    "above their parents' shop, a former corporate lawyer who quit her job after a single perfect "
    "croissant, and three others who are just as vivid. The film gives each of them time to breathe, and "
    "by the halfway point I was invested in every single loaf. The baking itself is filmed beautifully, "
    "with close-ups of crust and crumb that made the whole audience audibly hungry, and the editing of "
    "the competition rounds builds genuine suspense out of oven timers and proving baskets. What lifts "
    "it above a simple feel-good story is the way it lets failure in. Not everyone advances, and the "
    "film stays with the people who are knocked out, showing how they process disappointment and find "
    "reasons to keep baking anyway. The retired bus driver's reaction to his elimination, a long, "
    "thoughtful pause followed by a joke at his own expense, is more moving than most scripted drama. "
    "If I have a complaint, it is that the final round is a little rushed, and I would happily have "
    "watched another twenty minutes. That is a rare complaint to make about any film. Bring someone you "
    "like, and plan to visit a good bakery afterwards, because you will want to.",
)


# Reviews of at most this many words make the "sentences" set: about the length of SST-2's sentences.
SENTENCE_WORDS = 40
TEXT_SETS = ("reviews", "sentences")


def text_set(name: str) -> tuple[str, ...]:
    """``reviews``: the whole pool; ``sentences``: its reviews of at most ``SENTENCE_WORDS`` words."""
    if name == "reviews":
        return REVIEWS
    if name == "sentences":
        return tuple(text for text in REVIEWS if len(text.split()) <= SENTENCE_WORDS)
    raise ValueError(f"unknown text set {name!r}; choose one of {', '.join(TEXT_SETS)}")


def pick_text(rng: random.Random) -> str:
    """One review, drawn uniformly from the pool."""
    return rng.choice(REVIEWS)


def pick_batch(rng: random.Random, smallest: int = 5, largest: int = 10) -> list[str]:
    """Between ``smallest`` and ``largest`` reviews (inclusive), drawn from the pool with replacement."""
    if not 1 <= smallest <= largest:
        raise ValueError(f"batch size range {smallest}..{largest} is empty or below 1")
    return [rng.choice(REVIEWS) for _ in range(rng.randint(smallest, largest))]
