"""The scaling simulator: how Lambda, ECS Fargate and EKS answer a traffic shape, second by second.

`python -m costmodel simulate` (flags in `costmodel.simulate.cli`). Pure core: `arrivals` (traffic),
`config` (from the deployment files, `constants.yaml` and the cost model's inputs), `engine` with the
platform models `lambda_`, `serving` and `scalers`, and `costs`; output in `render`, `plot`, `judge`.
"""

MODES = ("auto", "event", "fluid")
