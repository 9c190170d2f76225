"""One run, start to finish: `ablate.runner.run.run(spec)`.

  spec       RunSpec (what to run, where) and RunResult (how it ended)
  identity   the run id: a hash of the settings that change the result
  run        prepare → restore → train → finish, writing the run directory
  checkpoint what a resume needs, saved after every epoch
"""
