"""The program as a whole: the global control group (`global_control`), its settings (`settings`) and the
program report (`results`)."""
