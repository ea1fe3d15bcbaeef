# Build targets for `sam build` (BuildMethod: makefile). Each copies one release binary to
# $(ARTIFACTS_DIR)/bootstrap, the handler of the provided.al2023 runtime. No Docker needed.
# For Graviton: RUST_TARGET=aarch64-unknown-linux-gnu sam build (and Architectures: [arm64]).
# CARGO_PROFILE=dev gives quick unoptimised builds (CI uses it to test the packaging).
# Each function is built alone (`-p`), so it links only the AWS clients its features name.
CARGO ?= cargo
TARGET_DIR ?= target
RUST_TARGET ?=
CARGO_PROFILE ?= release

ifeq ($(CARGO_PROFILE),dev)
PROFILE_DIR = debug
else
PROFILE_DIR = $(CARGO_PROFILE)
endif

ifeq ($(RUST_TARGET),)
BIN_DIR = $(TARGET_DIR)/$(PROFILE_DIR)
TARGET_FLAG =
else
BIN_DIR = $(TARGET_DIR)/$(RUST_TARGET)/$(PROFILE_DIR)
TARGET_FLAG = --target $(RUST_TARGET)
endif

define lambda
build-$(1):
	$(CARGO) build --profile $(CARGO_PROFILE) --locked $(TARGET_FLAG) -p keygate-fn-$(2) --bin $(2)
	cp $(BIN_DIR)/$(2) $(ARTIFACTS_DIR)/bootstrap
endef

$(eval $(call lambda,AuthenticateFunction,authenticate))
$(eval $(call lambda,RefreshFunction,refresh))
$(eval $(call lambda,RevokeFunction,revoke))
$(eval $(call lambda,JwksFunction,jwks))
$(eval $(call lambda,ForgotPasswordRequestFunction,forgot-password-request))
$(eval $(call lambda,ForgotPasswordConfirmFunction,forgot-password-confirm))
$(eval $(call lambda,AdminFunction,admin))
$(eval $(call lambda,AuthorizerFunction,authorizer))
$(eval $(call lambda,RotateSigningKeyFunction,rotate-signing-key))
