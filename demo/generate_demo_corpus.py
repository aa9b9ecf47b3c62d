#!/usr/bin/python3
"""Writes demo/articles.jsonl: the project's own fictional demo corpus.

Every article, person, company, club and country in here is made up for the
demo. The articles come in story clusters (five pieces on one ongoing story),
so that the "Related Articles" box the service returns for any of them is
visibly sensible: mostly the other pieces of the same story.

Each output line is one JSON object:

  id            CMS-style path, e.g. "2026/11/28/world/election-runoff-called"
  title         headline, in the article's language
  url           https://news.example.com/<id>
  section       world | business | sport | science | technology | culture
  language      "en", or "de" / "fr" for a handful of articles
  published_at  RFC 3339 UTC timestamp, October-November 2026
  attributes    strings: author, type (news|analysis|opinion), topic
  text          a one or two sentence summary

No embedding: the demo server embeds title and text itself, with a model
that scripts/demo.sh trains on these same articles (related-cli train).

--check also makes sure the corpus is one where related boxes can be judged:
with a deliberately simple word-matching embedding (see `embed`: lowercase
word tokens, a small stopword list dropped, each token and word bigram
feature-hashed into 64 dimensions with SHA-256), an article's top 5 must be
mostly the other pieces of its story.

Usage:
  generate_demo_corpus.py            write demo/articles.jsonl
  generate_demo_corpus.py --check    write nothing; check that the file is up
                                     to date and that each article's top 5 by
                                     cosine are mostly from its own story;
                                     prints a few related lists in full;
                                     exits 1 if a check fails
"""

import argparse
import hashlib
import json
import math
import os
import re
import sys

DIMENSION = 64
YEAR = 2026
BASE_URL = "https://news.example.com/"
BIGRAM_WEIGHT = 0.5

# Articles shown in detail by --check: one per section.
FEATURED_IDS = (
    "2026/11/28/world/election-runoff-called",
    "2026/10/29/business/central-bank-cuts-rates",
    "2026/10/22/sport/durrant-transfer-request",
    "2026/11/03/science/helios-2-plasma-record",
    "2026/10/25/technology/telvia-data-breach",
    "2026/10/28/culture/vantreau-painting-stolen-norwick",
)

# Every story has five articles, so at most 4 of an article's top 5 can be
# from its own story. --check fails if, averaged over all articles, fewer
# than this share of those 4 are in the top 5...
MIN_MEAN_STORY_RECALL = 0.8
# ...or if a featured article has fewer than this many of them.
MIN_FEATURED_SAME_STORY = 3

STOPWORDS = frozenset(
    """
    a an and are as at be been but by for from has have he her his how in into
    is it its of on or our over s says she so than that the their them then
    there these they this to up was we were what when which who why will with
    after before about more most new not no out off said say year years
    last first one two three all only can could may would now like still
    million billion
    der die das den dem des ein eine einen und im in mit von zu auf für ist
    nach bei um sich auch
    le la les l de du des un une et en au aux d à pour par sur qui que est
    """.split()
)

AUTHORS = {
    "world": ("Miriam Achterberg", "Jonah Peel", "Farida Osei", "Luca Brandt"),
    "business": ("Helen Marsh", "Ravi Kulkarni", "Oskar Lind", "Yara Haddad"),
    "sport": ("Danny Cole", "Ines Moreau", "Kwame Asante", "Beth Rowland"),
    "science": ("Dr Nora Quist", "Samuel Ferro", "Aiko Tanabe", "Pol Ribas"),
    "technology": ("Grace Whitlow", "Tomasz Wren", "Leila Sandoval", "Max Hart"),
    "culture": ("Clara Dunne", "Ezra Holm", "Sibylle Roux", "Marcus Vail"),
}

# Byline for the few articles from the German- and French-language desks.
FOREIGN_DESK_AUTHORS = {
    "de": ("Katrin Vogt", "Stefan Albers"),
    "fr": ("Camille Laurent", "Julien Ferrat"),
}

# One story per entry: its topic tag, section, and five articles as
# (date "MM-DD", slug, type, language, title, summary).
STORIES = [
    # ---------------------------------------------------------------- world
    {
        "topic": "calderra-election",
        "section": "world",
        "articles": [
            ("11-22", "calderra-presidential-vote-opens", "news", "en",
             "Calderra votes in tight presidential election",
             "Voters in Calderra cast ballots in a presidential election that "
             "polls show as a close race between president Ilse Marrow and "
             "challenger Tomas Revel."),
            ("11-23", "calderra-first-round-count", "news", "en",
             "No outright winner as Calderra election count ends",
             "With all ballots counted neither Marrow nor Revel passed 50 "
             "percent of the vote in Calderra's presidential election, so a "
             "runoff is needed."),
            ("11-25", "calderra-rural-vote-swing", "analysis", "en",
             "Why Calderra's rural voters swung to Revel",
             "Falling farm incomes pushed rural Calderra towards challenger "
             "Tomas Revel in the first round of the presidential election."),
            ("11-26", "calderra-third-candidate-backs-revel", "news", "en",
             "Third-placed Calderra candidate backs Revel in runoff",
             "Centrist Paulo Anders, third in the Calderra presidential "
             "election, endorsed Tomas Revel against president Marrow for the "
             "runoff vote."),
            ("11-28", "election-runoff-called", "news", "en",
             "Calderra election runoff called for December 13",
             "Calderra's election commission set the presidential runoff "
             "between Ilse Marrow and Tomas Revel for December 13 after "
             "certifying the first round vote."),
        ],
    },
    {
        "topic": "high-seas-treaty",
        "section": "world",
        "articles": [
            ("10-12", "high-seas-talks-open-lisbon", "news", "en",
             "High seas treaty talks open in Lisbon with fishing in dispute",
             "Delegates from 120 nations met in Lisbon to negotiate a high "
             "seas treaty on marine protected areas, chaired by Helena "
             "Duarte, with fishing quotas the main dispute."),
            ("10-15", "islands-demand-deep-sea-mining-moratorium", "news", "en",
             "Island states demand deep-sea mining moratorium at Lisbon talks",
             "Pacific island states led by Amara Toleafoa asked the high seas "
             "treaty talks in Lisbon to ban deep-sea mining of the ocean "
             "floor."),
            ("10-18", "high-seas-treaty-fishing-fleets", "analysis", "en",
             "What a high seas treaty would mean for fishing fleets",
             "Marine protected areas in the high seas treaty would close rich "
             "fishing grounds to trawler fleets, while ocean scientists say "
             "fish stocks would recover."),
            ("10-24", "traite-haute-mer-accord-lisbonne", "news", "fr",
             "Traité sur la haute mer : accord arraché à Lisbonne",
             "Après deux semaines de négociations à Lisbonne, présidées par "
             "Helena Duarte, les délégations adoptent un traité qui protège "
             "la haute mer et encadre l'exploitation minière des fonds "
             "marins, comme le demandait Amara Toleafoa."),
            ("10-24", "lisbon-deal-protects-high-seas", "news", "en",
             "Lisbon talks end with deal to protect a third of the high seas",
             "The high seas treaty agreed in Lisbon creates marine protected "
             "areas covering a third of the ocean and pauses deep-sea mining "
             "for ten years."),
        ],
    },
    {
        "topic": "river-floods",
        "section": "world",
        "articles": [
            ("10-05", "dravnik-river-floods-evacuation", "news", "en",
             "Thousands evacuated as Dravnik river bursts its banks",
             "Heavy rain made the Dravnik river burst its banks, flooding "
             "towns in the valley and forcing 12,000 people from their "
             "homes."),
            ("10-06", "dravnik-flood-death-toll", "news", "en",
             "Flood death toll rises to 14 in Dravnik valley",
             "Rescue teams in the flooded Dravnik valley found more victims "
             "as the river level began to fall."),
            ("10-08", "dravnik-flood-victims-wait-for-aid", "news", "en",
             "Dravnik flood victims wait for aid as roads stay closed",
             "Villages cut off by the Dravnik floods still lack drinking "
             "water and aid convoys cannot pass the flooded roads."),
            ("10-10", "dravnik-flood-defences-neglect", "analysis", "en",
             "Dravnik floods expose years of neglect of river defences",
             "Engineers warned for a decade that the Dravnik river flood "
             "defences were too low; the money to raise them was never "
             "spent."),
            ("10-19", "dravnik-rebuilding-flood-defences", "news", "en",
             "Government pledges 2 billion to rebuild Dravnik flood defences",
             "The government will spend 2 billion over five years to rebuild "
             "homes in the Dravnik valley and raise the river flood "
             "defences."),
        ],
    },
    {
        "topic": "kharel-ceasefire",
        "section": "world",
        "articles": [
            ("10-18", "kharel-dunmor-ceasefire-talks-geneva", "news", "en",
             "Kharel and Dunmor agree to ceasefire talks in Geneva",
             "After eight months of border fighting Kharel and Dunmor will "
             "send negotiators to Geneva for ceasefire talks under UN "
             "mediation."),
            ("10-21", "kharel-ceasefire-talks-stall", "news", "en",
             "Kharel ceasefire talks stall over border corridor",
             "Ceasefire talks between Kharel and Dunmor in Geneva stalled "
             "over control of the border corridor to the port."),
            ("10-23", "kharel-ceasefire-first-step", "opinion", "en",
             "A ceasefire between Kharel and Dunmor is only the first step",
             "Without a settlement on the border corridor any Kharel "
             "ceasefire will be fragile; the fighting must end in a real "
             "peace."),
            ("10-27", "kharel-dunmor-prisoner-exchange", "news", "en",
             "Prisoner exchange between Kharel and Dunmor raises ceasefire hopes",
             "Kharel and Dunmor exchanged 300 prisoners at the border, a "
             "gesture mediators in Geneva hope will unlock the ceasefire "
             "talks."),
            ("11-02", "kharel-dunmor-sign-ceasefire", "news", "en",
             "Kharel and Dunmor sign ceasefire as UN monitors deploy",
             "Kharel and Dunmor signed a ceasefire in Geneva; UN monitors "
             "will patrol the border corridor."),
        ],
    },
    # ------------------------------------------------------------- business
    {
        "topic": "interest-rates",
        "section": "business",
        "articles": [
            ("10-27", "inflation-falls-rate-cut-hopes", "news", "en",
             "Inflation falls to 2.4%, raising hopes of an interest rate cut",
             "Consumer price inflation fell for a third month, and markets "
             "now expect the central bank to cut interest rates this week."),
            ("10-29", "central-bank-cuts-rates", "news", "en",
             "Central bank cuts interest rates for first time in two years",
             "The central bank cut its main interest rate to 3.25% as "
             "inflation cools; governor Clara Vance said the decision was "
             "unanimous."),
            ("10-30", "rate-cut-mortgage-holders", "analysis", "en",
             "What the interest rate cut means for mortgage holders",
             "Variable mortgage rates follow the central bank rate, so "
             "borrowers should see lower monthly payments; savers will earn "
             "less interest."),
            ("10-31", "banks-pass-on-rate-cut", "news", "en",
             "Lenders pass on central bank rate cut as mortgage rates fall",
             "The largest banks cut mortgage rates within days of the central "
             "bank interest rate decision."),
            ("11-04", "vance-signals-further-rate-cuts", "news", "en",
             "Governor Clara Vance signals further interest rate cuts",
             "Central bank governor Clara Vance told lawmakers that more "
             "interest rate cuts are possible if inflation keeps falling."),
        ],
    },
    {
        "topic": "chip-shortage",
        "section": "business",
        "articles": [
            ("10-08", "car-makers-idle-plants-chip-shortage", "news", "en",
             "Car makers idle plants as chip shortage returns",
             "A shortage of semiconductor chips from Lumen Semiconductor "
             "forced three car makers to halt production lines."),
            ("10-10", "lumen-warns-chip-shortage-2027", "news", "en",
             "Lumen Semiconductor warns chip shortage will last into 2027",
             "Lumen Semiconductor said a fire at its wafer plant means chip "
             "supplies to car makers will stay short until 2027."),
            ("10-13", "chipmangel-kurzarbeit-autobauer", "news", "de",
             "Chipmangel: Autobauer schickt 4.000 Beschäftigte in Kurzarbeit",
             "Weil Chips von Lumen Semiconductor fehlen, stoppt ein Autobauer "
             "in Sachsen die Produktion; der Chipmangel trifft auch "
             "Zulieferer."),
            ("10-16", "subsidy-new-chip-factory", "news", "en",
             "Government offers subsidies for new semiconductor chip factory",
             "Ministers offered 3 billion in subsidies to bring a "
             "semiconductor chip factory to the country and ease the chip "
             "shortage."),
            ("10-20", "why-chip-shortage-keeps-returning", "analysis", "en",
             "Why the chip shortage keeps coming back",
             "Car makers buy chips just in time from few semiconductor plants "
             "like Lumen's, so one fire turns into a chip shortage."),
        ],
    },
    {
        "topic": "airline-merger",
        "section": "business",
        "articles": [
            ("10-14", "skyway-northjet-merger-agreed", "news", "en",
             "Skyway and Northjet agree 4 billion airline merger",
             "Skyway will buy rival airline Northjet in a 4 billion merger "
             "creating the region's largest carrier."),
            ("10-15", "pilots-oppose-skyway-northjet-merger", "news", "en",
             "Pilots union opposes Skyway-Northjet merger",
             "The pilots union said the Skyway Northjet airline merger would "
             "cost jobs and threatened strikes."),
            ("10-22", "regulator-probe-airline-merger", "news", "en",
             "Competition regulator opens in-depth probe into airline merger",
             "The competition regulator is concerned the Skyway Northjet "
             "merger would leave one airline on many routes."),
            ("10-26", "skyway-northjet-higher-fares", "analysis", "en",
             "Will the Skyway-Northjet merger mean higher fares?",
             "On routes where Skyway and Northjet compete, fares could rise "
             "after the airline merger."),
            ("11-09", "skyway-offers-airport-slots", "news", "en",
             "Skyway offers to give up airport slots to win merger approval",
             "Skyway offered the competition regulator to hand airport slots "
             "to rivals so the Northjet airline merger can go ahead."),
        ],
    },
    {
        "topic": "supermarket-strike",
        "section": "business",
        "articles": [
            ("11-09", "greengate-workers-vote-strike", "news", "en",
             "Greengate warehouse workers vote to strike over pay",
             "Warehouse workers at supermarket chain Greengate voted to "
             "strike after pay talks with the union failed."),
            ("11-12", "greengate-empty-shelves-strike", "news", "en",
             "Empty shelves at Greengate supermarkets as strike enters day two",
             "Greengate supermarket shelves ran empty as the warehouse strike "
             "stopped deliveries to stores."),
            ("11-14", "greengate-strike-talks-resume", "news", "en",
             "Greengate and union resume talks to end strike",
             "Greengate and the warehouse workers union returned to pay talks "
             "with a mediator as the strike continued."),
            ("11-15", "supermarket-workers-fair-share", "opinion", "en",
             "Supermarket workers deserve a fair share of record profits",
             "Greengate made record profits while its warehouse workers saw "
             "pay fall behind prices; the strike is justified."),
            ("11-18", "greengate-strike-ends-pay-deal", "news", "en",
             "Greengate strike ends with 7% pay deal",
             "Greengate warehouse workers accepted a 7% pay rise, ending the "
             "strike; supermarket deliveries restart."),
        ],
    },
    # ---------------------------------------------------------------- sport
    {
        "topic": "striker-transfer",
        "section": "sport",
        "articles": [
            ("10-12", "vale-athletic-bid-durrant", "news", "en",
             "Vale Athletic line up January bid for Ashford striker Durrant",
             "Vale Athletic will bid for Ashford Rovers striker Leon Durrant "
             "when the January transfer window opens."),
            ("10-16", "ashford-reject-durrant-offer", "news", "en",
             "Ashford Rovers reject 55 million offer for striker Durrant",
             "Ashford Rovers turned down a 55 million transfer offer from "
             "Vale Athletic for striker Leon Durrant."),
            ("10-18", "transferpoker-durrant-rheinstadt", "news", "de",
             "Transferpoker um Durrant: Auch Rheinstadt bietet mit",
             "Der FC Rheinstadt steigt in den Transferpoker um "
             "Ashford-Stürmer Leon Durrant ein und bietet 60 Millionen."),
            ("10-20", "ashford-cash-in-durrant", "opinion", "en",
             "Ashford must cash in on Durrant while they can",
             "With Durrant's contract running out, Ashford Rovers should take "
             "the transfer fee for their striker now."),
            ("10-22", "durrant-transfer-request", "news", "en",
             "Durrant hands in transfer request at Ashford Rovers",
             "Striker Leon Durrant asked Ashford Rovers for a transfer, hoping "
             "to join Vale Athletic in the January window."),
        ],
    },
    {
        "topic": "marathon-doping",
        "section": "sport",
        "articles": [
            ("10-03", "marlowe-suspended-failed-test", "news", "en",
             "Marathon champion Ruth Marlowe suspended after failed test",
             "Marathon champion Ruth Marlowe was provisionally suspended by "
             "the athletics anti-doping unit after a doping test found a "
             "banned substance."),
            ("10-05", "marlowe-denies-doping", "news", "en",
             "Marlowe denies doping and blames contaminated supplement",
             "Marathon runner Ruth Marlowe said the banned substance in her "
             "doping test came from a contaminated supplement."),
            ("10-09", "athletics-anti-doping-pressure", "analysis", "en",
             "Athletics anti-doping unit under pressure after Marlowe case",
             "The Marlowe doping case raises questions over how the "
             "athletics anti-doping unit tests marathon runners for banned "
             "substances."),
            ("10-21", "marlowe-b-sample-positive", "news", "en",
             "Marlowe B sample confirms positive doping test",
             "The B sample of marathon champion Ruth Marlowe confirmed the "
             "positive doping test for a banned substance."),
            ("11-20", "marlowe-banned-four-years", "news", "en",
             "Marlowe banned for four years and stripped of marathon title",
             "The athletics anti-doping tribunal gave marathon champion Ruth "
             "Marlowe a four-year doping ban."),
        ],
    },
    {
        "topic": "season-finals-tennis",
        "section": "sport",
        "articles": [
            ("11-10", "lindqvist-beats-world-number-one", "news", "en",
             "Lindqvist beats world number one to reach Finals semi-final",
             "Sofia Lindqvist beat the world number one in straight sets to "
             "reach the semi-final of the tennis season Finals."),
            ("11-13", "lindqvist-araujo-finals-title-clash", "news", "en",
             "Lindqvist and Araujo set up Finals title clash",
             "Sofia Lindqvist and Mia Araujo won their tennis semi-finals and "
             "will meet in the season Finals final."),
            ("11-14", "lindqvist-wins-finals-title", "news", "en",
             "Lindqvist wins Finals title in three sets",
             "Sofia Lindqvist beat Mia Araujo in three sets to win the "
             "tennis season Finals title."),
            ("11-16", "lindqvist-serve-season", "analysis", "en",
             "How Lindqvist's serve turned her tennis season around",
             "A new service motion made Sofia Lindqvist the best server in "
             "tennis this season and carried her to the Finals title."),
            ("11-17", "lindqvist-year-end-number-one", "news", "en",
             "Lindqvist ends year as world number one after Finals triumph",
             "The Finals title lifts Sofia Lindqvist to year-end world number "
             "one in the tennis rankings."),
        ],
    },
    {
        "topic": "grand-prix-title",
        "section": "sport",
        "articles": [
            ("11-25", "hale-salgado-title-decider", "news", "en",
             "Hale leads Salgado by 8 points before title-deciding Grand Prix",
             "Drivers' championship leader Nico Hale is 8 points ahead of "
             "Diego Salgado before the final Grand Prix of the season."),
            ("11-28", "salgado-pole-title-decider", "news", "en",
             "Salgado takes pole for championship-deciding Grand Prix",
             "Diego Salgado set the fastest qualifying lap to start the final "
             "Grand Prix from pole, ahead of title rival Hale."),
            ("11-29", "hale-crowned-world-champion", "news", "en",
             "Hale crowned world champion after final-lap duel with Salgado",
             "Nico Hale won the drivers' championship after Diego Salgado got "
             "a penalty on the final lap of the Grand Prix."),
            ("11-29", "stewards-final-lap-call", "opinion", "en",
             "The stewards got the final-lap penalty right",
             "Salgado forced Hale off the track on the final lap; the stewards' "
             "penalty decided the championship fairly."),
            ("11-30", "salgado-team-appeal-penalty", "news", "en",
             "Salgado team to appeal the penalty that settled the title",
             "Diego Salgado's team will appeal the final-lap Grand Prix penalty "
             "that gave Hale the championship."),
        ],
    },
    # -------------------------------------------------------------- science
    {
        "topic": "tessera-mars",
        "section": "science",
        "articles": [
            ("10-03", "tessera-enters-mars-orbit", "news", "en",
             "Tessera probe fires engine to enter Mars orbit",
             "After a seven-month cruise the Tessera space probe fired its "
             "main engine and entered orbit around Mars, the mission team "
             "said. The Mars orbiter will map the planet for two years."),
            ("10-09", "tessera-first-mars-images", "news", "en",
             "Tessera orbiter returns first close-up images of Mars",
             "The Tessera Mars orbiter returned its first close-up images of "
             "the planet's surface, showing craters and dust storms; the "
             "probe's camera works as planned, the mission team said."),
            ("10-30", "tessera-radar-buried-ice", "news", "en",
             "Tessera radar finds buried ice near the Mars equator",
             "Radar on the Tessera Mars orbiter found signs of water ice "
             "buried under the surface of the planet near the Martian "
             "equator."),
            ("11-02", "equatorial-ice-human-missions", "analysis", "en",
             "Why ice near the Martian equator matters for human missions",
             "Buried water ice near the Mars equator, found by the Tessera "
             "orbiter, could supply astronauts on a Mars mission with water "
             "and rocket fuel."),
            ("11-21", "tessera-safe-mode-glitch", "news", "en",
             "Tessera Mars orbiter glitch puts instruments in safe mode",
             "A software glitch put the Tessera Mars orbiter into safe mode. "
             "Mission engineers expect to restart its radar and camera."),
        ],
    },
    {
        "topic": "verdamycin-antibiotic",
        "section": "science",
        "articles": [
            ("10-22", "verdamycin-antibiotic-soil-bacteria", "news", "en",
             "New antibiotic from soil bacteria kills resistant superbugs",
             "Scientists discovered verdamycin, an antibiotic made by soil "
             "bacteria that kills drug-resistant superbugs in the lab."),
            ("10-29", "verdamycin-cleared-infections-mice", "news", "en",
             "Verdamycin antibiotic cleared superbug infections in mice",
             "In mice with drug-resistant bacterial infections the new "
             "antibiotic verdamycin cleared the superbugs within days."),
            ("11-06", "why-antibiotics-rarely-reach-patients", "analysis", "en",
             "Why new antibiotics rarely reach patients",
             "Drug companies earn little from new antibiotics against "
             "resistant bacteria, so finds like verdamycin often stall before "
             "trials in patients."),
            ("11-12", "drug-resistant-infections-deaths", "news", "en",
             "Drug-resistant infections killed 40,000 people last year",
             "Superbugs, bacteria resistant to antibiotics, caused 40,000 "
             "deaths from infections, the health agency said, calling for new "
             "antibiotic drugs."),
            ("11-24", "verdamycin-human-trial", "news", "en",
             "First human trial of verdamycin antibiotic to start next year",
             "Regulators approved a first trial of the antibiotic verdamycin "
             "in patients with drug-resistant bacterial infections."),
        ],
    },
    {
        "topic": "arctic-ice",
        "section": "science",
        "articles": [
            ("10-06", "arctic-sea-ice-second-lowest", "news", "en",
             "Arctic sea ice shrinks to second-lowest extent on record",
             "Satellite data show Arctic sea ice reached its second-lowest "
             "summer extent since records began, as the climate warms."),
            ("10-13", "greenland-ice-sheet-record-loss", "news", "en",
             "Greenland ice sheet lost record mass this summer",
             "A satellite survey found the Greenland ice sheet lost a record "
             "amount of ice to melting as the Arctic climate warmed."),
            ("10-20", "arctic-melt-europe-winters", "analysis", "en",
             "What the melting Arctic sea ice means for Europe's winters",
             "Less Arctic sea ice may weaken the jet stream, and climate "
             "scientists say the melt can bring colder winter spells to "
             "Europe."),
            ("11-05", "ice-free-arctic-summers-2040s", "news", "en",
             "Scientists warn of ice-free Arctic summers by the 2040s",
             "A climate study says Arctic sea ice could melt away entirely in "
             "summer by the 2040s."),
            ("11-19", "polar-ship-returns-arctic-data", "news", "en",
             "Polar research ship returns with a year of Arctic sea ice data",
             "The research ship drifted with the Arctic sea ice for a year, "
             "measuring how fast the ice melts in a warming climate."),
        ],
    },
    {
        "topic": "helios-fusion",
        "section": "science",
        "articles": [
            ("11-03", "helios-2-plasma-record", "news", "en",
             "Helios-2 fusion experiment holds plasma for record 20 minutes",
             "The Helios-2 stellarator held a hot fusion plasma stable for 20 "
             "minutes, a record for a fusion experiment."),
            ("11-04", "fusionsforschung-helios-plasma", "news", "de",
             "Fusionsforschung: Helios-2 hält Plasma 20 Minuten lang",
             "Der Stellarator Helios-2 hat ein Fusion-Plasma 20 Minuten lang "
             "stabil gehalten, ein Rekord."),
            ("11-08", "fusion-power-grid-how-far", "analysis", "en",
             "How far is fusion power from the grid?",
             "Records like Helios-2's plasma run are progress, but fusion "
             "power plants are decades away."),
            ("11-16", "fusion-startup-raises-900-million", "news", "en",
             "Fusion start-up raises 900 million after Helios-2 record",
             "Investors put 900 million into a fusion start-up building a "
             "stellarator like Helios-2."),
            ("11-27", "helios-2-upgrade-shutdown", "news", "en",
             "Helios-2 stellarator shuts down for upgrade",
             "The Helios-2 fusion stellarator will shut down for a year to "
             "reach a hotter plasma."),
        ],
    },
    # ----------------------------------------------------------- technology
    {
        "topic": "ai-act",
        "section": "technology",
        "articles": [
            ("10-15", "parliament-passes-ai-act", "news", "en",
             "Parliament passes AI act with rules for high-risk systems",
             "The AI act passed by parliament sets rules for high-risk AI "
             "systems such as hiring tools and facial recognition."),
            ("10-17", "tech-firms-warn-ai-act", "news", "en",
             "Tech firms warn the AI act will slow product launches",
             "Tech firms said the AI act's compliance checks will delay new "
             "AI products."),
            ("10-19", "ai-act-start-up-conformite", "news", "fr",
             "AI Act : les start-up craignent le coût de la conformité",
             "Les start-up françaises redoutent que la conformité à l'AI Act "
             "coûte cher pour leurs systèmes d'IA."),
            ("10-23", "ai-act-explained", "analysis", "en",
             "The AI act explained: what changes for chatbots and face scans",
             "The AI act requires chatbots to disclose they are AI and limits "
             "facial recognition."),
            ("11-10", "ai-office-enforce-act", "news", "en",
             "Regulator sets up AI office to enforce the new act",
             "An AI office with 200 staff will enforce the AI act and can "
             "fine firms."),
        ],
    },
    {
        "topic": "telvia-breach",
        "section": "technology",
        "articles": [
            ("10-25", "telvia-data-breach", "news", "en",
             "Telvia data breach exposes records of 9 million customers",
             "Hackers stole names, phone numbers and bank details of 9 "
             "million Telvia customers in a data breach."),
            ("10-27", "telvia-customers-phishing-texts", "news", "en",
             "Telvia customers targeted by phishing texts after breach",
             "Fraudsters used stolen Telvia customer data to send phishing "
             "texts after the data breach."),
            ("10-28", "telvia-chief-apologises-breach", "news", "en",
             "Telvia chief executive apologises for data breach",
             "Telvia's chief executive apologised to customers for the data "
             "breach and offered free credit monitoring."),
            ("11-01", "telvia-breach-hoard-data", "opinion", "en",
             "The Telvia breach shows companies still hoard too much data",
             "Telvia kept customer data it did not need; companies should "
             "delete what they do not use."),
            ("11-26", "regulator-fines-telvia", "news", "en",
             "Data protection regulator fines Telvia 45 million over breach",
             "The data protection regulator fined Telvia 45 million for "
             "failing to protect customer data."),
        ],
    },
    {
        "topic": "orbis-foldable",
        "section": "technology",
        "articles": [
            ("11-05", "orbis-unveils-fold-3", "news", "en",
             "Orbis unveils thinner foldable phone with bigger battery",
             "Orbis launched the Fold 3 foldable phone, thinner than its "
             "predecessor with a bigger battery."),
            ("11-07", "orbis-fold-3-review", "analysis", "en",
             "Orbis Fold 3 review: the foldable phone finally grows up",
             "The Orbis Fold 3 foldable phone has a brighter screen and "
             "better battery life."),
            ("11-08", "orbis-foldable-sells-out", "news", "en",
             "Orbis foldable phone sells out in hours",
             "The first batch of the Orbis Fold 3 foldable phone sold out in "
             "hours."),
            ("11-13", "orbis-fold-3-screen-crease", "news", "en",
             "Screen crease complaints dog Orbis Fold 3 launch",
             "Orbis Fold 3 buyers complained about a visible crease in the "
             "foldable screen."),
            ("11-23", "orbis-cuts-foldable-price", "news", "en",
             "Orbis cuts foldable phone price ahead of holidays",
             "Orbis cut the Fold 3 foldable phone price by 150 before the "
             "holiday season."),
        ],
    },
    {
        "topic": "undersea-cable",
        "section": "technology",
        "articles": [
            ("11-17", "internet-slows-undersea-cable-cut", "news", "en",
             "Internet slows across three countries after undersea cable cut",
             "A cut in the Nordmark undersea cable slowed internet traffic in "
             "three countries."),
            ("11-18", "repair-ship-undersea-cable", "news", "en",
             "Repair ship sent to fix damaged undersea cable",
             "A cable repair ship is heading to the damaged Nordmark undersea "
             "cable."),
            ("11-20", "anchor-damage-undersea-cable", "news", "en",
             "Investigators examine anchor damage to undersea cable",
             "Investigators suspect a ship's anchor dragged across the "
             "Nordmark undersea cable."),
            ("11-22", "how-fragile-undersea-cables", "analysis", "en",
             "How fragile is the internet's undersea cable network?",
             "Most internet traffic runs through undersea cables like "
             "Nordmark, and few repair ships exist."),
            ("11-27", "undersea-cable-repaired", "news", "en",
             "Undersea cable repaired as internet speeds return to normal",
             "The Nordmark undersea cable is repaired and internet speeds "
             "are back to normal."),
        ],
    },
    # -------------------------------------------------------------- culture
    {
        "topic": "saint-roch-festival",
        "section": "culture",
        "articles": [
            ("10-09", "saint-roch-festival-opens-ferrand", "news", "en",
             "Saint-Roch film festival opens with Nadia Ferrand drama",
             "The Saint-Roch film festival opened with The Salt Road, a "
             "drama by director Nadia Ferrand."),
            ("10-10", "festival-saint-roch-ferrand-ovation", "news", "fr",
             "Festival de Saint-Roch : le film de Nadia Ferrand ovationné",
             "Au festival de Saint-Roch, le film de Nadia Ferrand, La Route "
             "du sel, a reçu une longue ovation."),
            ("10-11", "salt-road-review-ferrand", "analysis", "en",
             "The Salt Road review: Nadia Ferrand's quiet triumph",
             "Ferrand's film The Salt Road is the best drama at the Saint-Roch "
             "festival."),
            ("10-13", "saint-roch-jury-walkout", "news", "en",
             "Jury walkout overshadows Saint-Roch film festival",
             "Two jurors left the Saint-Roch film festival jury in protest at "
             "its president."),
            ("10-17", "salt-road-wins-golden-lantern", "news", "en",
             "Nadia Ferrand's The Salt Road wins Saint-Roch Golden Lantern",
             "The Salt Road by Nadia Ferrand won the top prize at the "
             "Saint-Roch film festival."),
        ],
    },
    {
        "topic": "museum-art-theft",
        "section": "culture",
        "articles": [
            ("10-28", "vantreau-painting-stolen-norwick", "news", "en",
             "Vantreau painting stolen from Norwick museum in night raid",
             "Thieves broke into the Norwick museum and stole a painting by "
             "Edouard Vantreau worth 30 million."),
            ("10-29", "norwick-museum-thieves-cctv", "news", "en",
             "Police release CCTV images of Norwick museum thieves",
             "Police released CCTV images of the thieves who stole the Vantreau "
             "painting from the Norwick museum."),
            ("11-03", "stolen-masterpieces-impossible-sell", "analysis", "en",
             "Why a stolen masterpiece like the Vantreau is almost unsellable",
             "A famous painting like the Vantreau stolen from the Norwick "
             "museum cannot be sold openly, so art thieves use such paintings as "
             "collateral between criminal gangs."),
            ("11-11", "two-arrested-norwick-theft", "news", "en",
             "Two arrested over Norwick museum Vantreau theft",
             "Police arrested two men over the theft of the Vantreau painting "
             "from the Norwick museum."),
            ("11-19", "stolen-vantreau-painting-found", "news", "en",
             "Stolen Vantreau painting found undamaged in a garage",
             "Police found the Vantreau painting stolen from the Norwick museum "
             "undamaged in a garage."),
        ],
    },
    {
        "topic": "harrow-prize",
        "section": "culture",
        "articles": [
            ("11-01", "debut-novels-harrow-shortlist", "news", "en",
             "Debut novels dominate Harrow Prize shortlist",
             "Four of the six novels on the Harrow Prize shortlist are "
             "debuts."),
            ("11-02", "harrow-prize-shortlisted-authors", "analysis", "en",
             "Harrow Prize: meet the six shortlisted authors",
             "The six authors on the Harrow Prize shortlist for fiction and "
             "their novels."),
            ("11-06", "harrow-prize-translated-fiction", "opinion", "en",
             "The Harrow Prize should stop ignoring translated fiction",
             "No translated novel has made the Harrow Prize shortlist in ten "
             "years; the fiction prize should change."),
            ("11-20", "rahimi-wins-harrow-prize", "news", "en",
             "Amal Rahimi wins Harrow Prize for debut novel Winter Orchard",
             "Amal Rahimi won the Harrow Prize for fiction with her debut "
             "novel Winter Orchard."),
            ("11-25", "winter-orchard-sales-jump", "news", "en",
             "Sales of Harrow Prize winner Winter Orchard jump tenfold",
             "Amal Rahimi's novel Winter Orchard sold ten times more copies "
             "after winning the Harrow Prize."),
        ],
    },
    {
        "topic": "northern-parade-tour",
        "section": "culture",
        "articles": [
            ("11-12", "northern-parade-reunion-tour", "news", "en",
             "Northern Parade announce reunion tour after 15 years",
             "The band Northern Parade will reunite for a stadium tour, their "
             "first concerts in 15 years."),
            ("11-14", "northern-parade-tickets-sell-out", "news", "en",
             "Northern Parade tour tickets sell out amid dynamic pricing anger",
             "Northern Parade reunion tour tickets sold out in minutes and "
             "fans were angry at dynamic pricing."),
            ("11-18", "ticket-resale-inquiry-northern-parade", "news", "en",
             "Ticket resale sites face inquiry after Northern Parade sell-out",
             "Regulators will investigate ticket resale sites selling Northern "
             "Parade tour tickets at five times face value."),
            ("11-24", "northern-parade-warm-up-review", "analysis", "en",
             "Northern Parade warm-up gig review: older, louder, better",
             "At a small warm-up concert before the reunion tour, Northern "
             "Parade played like a band with something to prove."),
            ("11-26", "northern-parade-second-stadium-night", "news", "en",
             "Northern Parade add second stadium night to reunion tour",
             "After the sell-out, Northern Parade added a second stadium "
             "concert to the reunion tour."),
        ],
    },
]


# ------------------------------------------------------------ the embedding

def tokens(text):
    """Lowercase word tokens without stopwords.

    A trailing "s" is cut from words longer than four letters, unless it
    follows s, i or u (press, tennis, virus): a crude plural fold so that
    "chips" and "chip" share a feature.
    """
    out = []
    for word in re.findall(r"[^\W_]+", text.lower()):
        if len(word) < 2 or word in STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("s") and word[-2] not in "siu":
            word = word[:-1]
        out.append(word)
    return out


def add_feature(vector, feature, weight):
    digest = hashlib.sha256(feature.encode("utf-8")).digest()
    dim = int.from_bytes(digest[:4], "big") % DIMENSION
    sign = 1.0 if digest[4] & 1 else -1.0
    vector[dim] += sign * weight


def embed(title, summary):
    """The article's 64-dimensional, L2-normalised embedding.

    Title and summary are tokenised separately, so no bigram spans them.
    """
    vector = [0.0] * DIMENSION
    for part in (title, summary):
        words = tokens(part)
        for word in words:
            add_feature(vector, "w:" + word, 1.0)
        for first, second in zip(words, words[1:]):
            add_feature(vector, "b:" + first + " " + second, BIGRAM_WEIGHT)
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        raise ValueError("no embeddable words in %r" % title)
    # "+ 0.0" turns a rounded -0.0 into 0.0.
    return [round(x / norm, 5) + 0.0 for x in vector]


# --------------------------------------------------------------- the corpus

def stable_int(text):
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def build_corpus():
    """All articles as dicts, oldest first (ties by id)."""
    articles = []
    seen = set()
    for story in STORIES:
        section = story["section"]
        for month_day, slug, kind, language, title, summary in story["articles"]:
            month, day = month_day.split("-")
            article_id = "%d/%s/%s/%s/%s" % (YEAR, month, day, section, slug)
            if article_id in seen:
                raise ValueError("duplicate id " + article_id)
            seen.add(article_id)
            # A fixed, plausible time of day per article: 06:00 to 21:59 UTC.
            n = stable_int(article_id)
            published_at = "%d-%s-%sT%02d:%02d:00Z" % (
                YEAR, month, day, 6 + n % 16, (n >> 8) % 60)
            if language == "en":
                bylines = AUTHORS[section]
            else:
                bylines = FOREIGN_DESK_AUTHORS[language]
            author = bylines[(n >> 16) % len(bylines)]
            articles.append({
                "id": article_id,
                "title": title,
                "url": BASE_URL + article_id,
                "section": section,
                "language": language,
                "published_at": published_at,
                "attributes": {
                    "author": author,
                    "type": kind,
                    "topic": story["topic"],
                },
                "text": summary,
            })
    articles.sort(key=lambda a: (a["published_at"], a["id"]))
    return articles


def to_jsonl(articles):
    return "".join(
        json.dumps(a, ensure_ascii=False, separators=(",", ":")) + "\n"
        for a in articles)


# ------------------------------------------------------------------ --check

def cosine(u, v):
    dot = sum(x * y for x, y in zip(u, v))
    return dot / math.sqrt(sum(x * x for x in u) * sum(y * y for y in v))


def top_related(articles, query, k):
    def vector(article):
        return embed(article["title"], article["text"])
    scored = [(cosine(vector(query), vector(other)), other["id"], other)
              for other in articles if other["id"] != query["id"]]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [(score, other) for score, _, other in scored[:k]]


def same_story_count(articles, query, k=5):
    topic = query["attributes"]["topic"]
    return sum(1 for _, other in top_related(articles, query, k)
               if other["attributes"]["topic"] == topic)


def check(articles, path):
    ok = True
    by_id = {a["id"]: a for a in articles}
    story_size = {}
    for a in articles:
        topic = a["attributes"]["topic"]
        story_size[topic] = story_size.get(topic, 0) + 1

    try:
        with open(path, encoding="utf-8") as f:
            on_disk = f.read()
    except FileNotFoundError:
        on_disk = None
    if on_disk == to_jsonl(articles):
        print("%s: up to date (%d articles, %d stories)"
              % (path, len(articles), len(story_size)))
    else:
        print("%s: STALE or missing; run %s without --check to rewrite it"
              % (path, os.path.basename(sys.argv[0])))
        ok = False

    for featured_id in FEATURED_IDS:
        query = by_id[featured_id]
        topic = query["attributes"]["topic"]
        same = same_story_count(articles, query)
        print()
        print("%s  [%s]" % (featured_id, topic))
        print("  %s" % query["title"])
        print("  top 5 (= same story, x other story): %d of the %d other "
              "articles of its story" % (same, story_size[topic] - 1))
        for score, other in top_related(articles, query, 5):
            mark = "=" if other["attributes"]["topic"] == topic else "x"
            print("  %s %.3f  %s" % (mark, score, other["title"]))
            print("            %s" % other["id"])
        if same < MIN_FEATURED_SAME_STORY:
            print("  FAIL: fewer than %d from the same story"
                  % MIN_FEATURED_SAME_STORY)
            ok = False

    counts = [same_story_count(articles, a) for a in articles]
    possible = [min(5, story_size[a["attributes"]["topic"]] - 1)
                for a in articles]
    recall = sum(counts) / float(sum(possible))
    print()
    print("all %d articles: %.2f of the same-story articles that could be in "
          "the top 5 are; %d articles have at least 3 in their top 5"
          % (len(articles), recall, sum(1 for c in counts if c >= 3)))
    weakest = sorted(zip(counts, (a["id"] for a in articles)))[:6]
    print("weakest: " + ", ".join("%s (%d)" % (i, c) for c, i in weakest))
    if recall < MIN_MEAN_STORY_RECALL:
        print("FAIL: below %.2f" % MIN_MEAN_STORY_RECALL)
        ok = False
    print("check: " + ("OK" if ok else "FAILED"))
    return ok


def main():
    default_output = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "articles.jsonl")
    parser = argparse.ArgumentParser(
        description="Write the demo corpus (demo/articles.jsonl).")
    parser.add_argument("--output", default=default_output,
                        help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; check the file is up to date "
                             "and that top-5 neighbours share the story")
    args = parser.parse_args()

    articles = build_corpus()
    if args.check:
        return 0 if check(articles, args.output) else 1
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(to_jsonl(articles))
    print("wrote %d articles to %s" % (len(articles), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
