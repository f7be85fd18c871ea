"""The simulation layer every env family builds on; it imports nothing above it.

Scene building (``scene``, ``ramps``), property spaces (``properties``), physics read-outs
(``physics``), rendering (``render``), table-top stepping with a gripper (``tabletop``), passive
frame stepping (``passive``), observations (``observations``), do()-interventions
(``interventions``), contact recording and the direct / but-for causal graphs (``ground_truth``)
and event-grounded captions (``captions``). A new kind of ground truth or a new shape goes here.
"""
